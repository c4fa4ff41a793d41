/**
 * Strophe.js 5 sessions in Node (its node build brings @xmldom/xmldom and
 * ws; BOSH gets our XMLHttpRequest shim), for the integration tests.
 */
import { Strophe, $msg } from 'strophe.js'
import { installXhrShim } from './xhr-shim.js'
import { Waiters } from './wait.js'

installXhrShim()

export type StropheConnection = InstanceType<typeof Strophe.Connection>

export interface StropheClient {
  readonly connection: StropheConnection
  readonly jid: string
  /** Bodies of chat messages received, in order. */
  readonly bodies: string[]
  /** Every stanza received (serialised), for inspection. */
  readonly stanzas: Element[]
  sendMessage(to: string, body: string, id?: string): void
  waitForBodies(count: number, timeoutMs?: number): Promise<string[]>
  waitFor(predicate: (stanza: Element) => boolean, timeoutMs?: number): Promise<Element>
  disconnect(): Promise<void>
}

const statusName = (status: number) => Object.entries(Strophe.Status).find(([, v]) => v === status)?.[0] ?? String(status)

export async function connectStrophe(service: string, jid: string, password: string, options: Record<string, unknown> = {}): Promise<StropheClient> {
  const connection = new Strophe.Connection(service, options)
  const bodies: string[] = []
  const stanzas: Element[] = []
  const waiters = new Waiters()
  const wake = () => waiters.wake()
  connection.addHandler((stanza: Element) => {
    stanzas.push(stanza)
    if (stanza.nodeName === 'message') {
      const body = stanza.getElementsByTagName('body')[0]
      if (body) bodies.push(body.textContent ?? '')
    }
    wake()
    return true
  })
  let disconnected: () => void = () => {}
  const gone = new Promise<void>((resolve) => (disconnected = resolve))
  await new Promise<void>((resolve, reject) => {
    connection.connect(jid, password, (status: number, condition?: string) => {
      if (status === Strophe.Status.CONNECTED) resolve()
      else if (status === Strophe.Status.DISCONNECTED) {
        disconnected()
        reject(new Error(`disconnected before login${condition ? `: ${condition}` : ''}`))
      } else if (status === Strophe.Status.CONNFAIL || status === Strophe.Status.AUTHFAIL || status === Strophe.Status.ERROR) {
        reject(new Error(`${statusName(status)}${condition ? `: ${condition}` : ''}`))
      }
    })
  })
  const until = <T>(ready: () => T | undefined, timeoutMs: number, what: string) =>
    waiters.until(ready, timeoutMs, () => `${what} (have ${bodies.length} bodies)`)
  return {
    connection,
    jid: connection.jid,
    bodies,
    stanzas,
    sendMessage: (to, body, id) => connection.send($msg({ to, type: 'chat', ...(id ? { id } : {}) }).c('body').t(body).tree()),
    waitForBodies: (count, timeoutMs = 30_000) => until(() => (bodies.length >= count ? bodies.slice(0, count) : undefined), timeoutMs, `${count} bodies`),
    waitFor: (predicate, timeoutMs = 10_000) => until(() => stanzas.find(predicate), timeoutMs, 'a stanza'),
    disconnect: async () => {
      connection.connect_callback = (status: number) => {
        if (status === Strophe.Status.DISCONNECTED) disconnected()
      }
      connection.disconnect('test done')
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))])
    },
  }
}
