/**
 * @xmpp/client sessions for integration tests: log in, collect what
 * arrives, wait for counts without sleeping.
 */
import { client, xml } from '@xmpp/client'
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
  /** A full JID's presence; for a bare JID, the first available presence of any of its resources. */
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
      until(() => presences.find((p) => p.attrs.from === from || (!from.includes('/') && p.attrs.type === undefined && String(p.attrs.from).startsWith(`${from}/`))), timeoutMs, `presence from ${from}`),
    stop: async () => {
      if (xmpp.status !== 'offline') await xmpp.stop()
    },
  }
}

/**
 * Put two accounts in each other's roster with subscription "both" (RFC 6121
 * §3), over a direct connection to the server, so a browser client later
 * sees the other's presence and messages as from a contact.
 */
export async function befriend(
  service: string,
  first: { username: string; password: string },
  second: { username: string; password: string },
  domain = 'localhost',
  timeoutMs = 15_000,
): Promise<void> {
  const a = await connectClient({ service, ...first, domain, resource: 'setup' })
  const b = await connectClient({ service, ...second, domain, resource: 'setup' })
  try {
    const both = (client: TestClient, peer: string) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no roster push with ${peer} subscription=both`)), timeoutMs)
        client.xmpp.on('stanza', (stanza: Element) => {
          // RFC 6121 §3.1.3: approve the peer's request.
          if (stanza.is('presence') && stanza.attrs.type === 'subscribe') void client.xmpp.send(xml('presence', { to: stanza.attrs.from, type: 'subscribed' }))
          const item = stanza.is('iq') && stanza.attrs.type === 'set' ? stanza.getChild('query', 'jabber:iq:roster')?.getChild('item') : undefined
          if (item?.attrs.jid === peer && item.attrs.subscription === 'both') {
            clearTimeout(timer)
            resolve()
          }
        })
      })
    const aJid = `${first.username}@${domain}`
    const bJid = `${second.username}@${domain}`
    const done = Promise.all([both(a, bJid), both(b, aJid)])
    for (const client of [a, b]) {
      // Roster pushes go to interested resources only, subscription requests to available ones (RFC 6121 §2.1.6, §3.1.3).
      await client.xmpp.iqCaller.get(xml('query', { xmlns: 'jabber:iq:roster' }))
      await client.xmpp.send(xml('presence'))
    }
    await a.xmpp.send(xml('presence', { to: bJid, type: 'subscribe' }))
    await b.xmpp.send(xml('presence', { to: aJid, type: 'subscribe' }))
    await done
  } finally {
    await a.stop()
    await b.stop()
  }
}
