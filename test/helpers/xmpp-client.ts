/**
 * @xmpp/client sessions for integration tests: log in, collect what
 * arrives, wait for counts without sleeping.
 */
import { client } from '@xmpp/client'
import type { Element } from 'ltx'
import { WebSocket } from 'ws'
import { Waiters } from './wait.js'

// Node 20 has no global WebSocket; @xmpp/websocket expects one, as in a browser.
globalThis.WebSocket ??= WebSocket as unknown as typeof globalThis.WebSocket

export interface TestClient {
  readonly xmpp: ReturnType<typeof client>
  readonly jid: string
  /** Every `<message/>` with a body that arrived, in order. */
  readonly messages: Element[]
  readonly presences: Element[]
  waitForMessages(count: number, timeoutMs?: number): Promise<Element[]>
  waitForPresence(from: string, timeoutMs?: number): Promise<Element>
  stop(): Promise<void>
}

export interface ClientOptions {
  readonly service: string
  readonly username: string
  readonly password: string
  readonly domain?: string
  readonly resource?: string
  /** Force a SASL mechanism ('PLAIN', 'SCRAM-SHA-1'); default: the library's choice. */
  readonly mechanism?: string
}

export async function connectClient(options: ClientOptions): Promise<TestClient> {
  const { mechanism } = options
  const xmpp = client({
    service: options.service,
    domain: options.domain ?? 'localhost',
    resource: options.resource ?? 'test',
    ...(mechanism
      ? {
          credentials: async (authenticate: (c: object, m: string) => Promise<void>, mechanisms: string[]) => {
            if (!mechanisms.includes(mechanism)) throw new Error(`server does not offer ${mechanism}: ${mechanisms.join(' ')}`)
            await authenticate({ username: options.username, password: options.password }, mechanism)
          },
        }
      : { username: options.username, password: options.password }),
  })
  // Tests assert on failures themselves; reconnecting would hide them.
  xmpp.reconnect.stop()
  const messages: Element[] = []
  const presences: Element[] = []
  const waiters = new Waiters()
  xmpp.on('error', () => {})
  xmpp.on('stanza', (stanza: Element) => {
    if (stanza.is('message') && stanza.getChild('body')) messages.push(stanza)
    if (stanza.is('presence')) presences.push(stanza)
    waiters.wake()
  })
  const until = <T>(ready: () => T | undefined, timeoutMs: number, what: string) =>
    waiters.until(ready, timeoutMs, () => `${what} (have ${messages.length} messages)`)
  const address = await xmpp.start()
  return {
    xmpp,
    jid: address.toString(),
    messages,
    presences,
    waitForMessages: (count, timeoutMs = 20_000) =>
      until(() => (messages.length >= count ? messages.slice(0, count) : undefined), timeoutMs, `${count} messages`),
    waitForPresence: (from, timeoutMs = 5000) =>
      until(() => presences.find((p) => p.attrs.from === from), timeoutMs, `presence from ${from}`),
    stop: async () => {
      if (xmpp.status !== 'offline') await xmpp.stop()
    },
  }
}
