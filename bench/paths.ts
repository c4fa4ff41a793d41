/**
 * The five ways the load generator reaches the same Prosody, and the
 * logged-in sessions it opens over them.
 *
 *   tcp           load generator ──TCP──▶ Prosody c2s                        (the baseline)
 *   cw-ws         load generator ──WebSocket──▶ Causeway ──TCP──▶ Prosody
 *   cw-bosh       load generator ──BOSH──▶ Causeway ──TCP──▶ Prosody
 *   prosody-ws    load generator ──WebSocket──▶ Prosody's mod_websocket
 *   prosody-bosh  load generator ──BOSH──▶ Prosody's mod_bosh
 *   tcp-pipe      load generator ──TCP──▶ a bare Node pipe ──TCP──▶ Prosody c2s   (the floor for a Node relay)
 *
 * Every path logs in the same way: SASL PLAIN and resource binding.
 */
import { performance } from 'node:perf_hooks'
import type { PathName } from './options.js'
import { XmppLink } from './xmpp-link.js'
import type { LinkKind } from './xmpp-link.js'

export const DOMAIN = 'localhost'
export const LOGIN_TIMEOUT_MS = 30_000
export const CLOSE_TIMEOUT_MS = 10_000

export interface PathInfo {
  readonly name: PathName
  readonly label: string
  readonly kind: LinkKind
  /** The sessions go through a relay process, Causeway or the bare pipe (its CPU is the relay CPU). */
  readonly relayed: boolean
}

export const PATHS: Readonly<Record<PathName, PathInfo>> = {
  'cw-ws': { name: 'cw-ws', label: 'Causeway WS', kind: 'ws', relayed: true },
  'cw-bosh': { name: 'cw-bosh', label: 'Causeway BOSH', kind: 'bosh', relayed: true },
  'prosody-ws': { name: 'prosody-ws', label: 'Prosody WS', kind: 'ws', relayed: false },
  'prosody-bosh': { name: 'prosody-bosh', label: 'Prosody BOSH', kind: 'bosh', relayed: false },
  'tcp-pipe': { name: 'tcp-pipe', label: 'TCP via bare pipe', kind: 'tcp', relayed: true },
  tcp: { name: 'tcp', label: 'direct TCP', kind: 'tcp', relayed: false },
}

/** Where a path's sessions connect, and the relay process in between (if any). */
export interface Endpoint {
  readonly path: PathName
  readonly kind: LinkKind
  /** tcp: Prosody's c2s port. */
  readonly port?: number
  /** ws:// or http://…/http-bind. */
  readonly url?: string
  readonly relayPid?: number
}

export interface User {
  readonly username: string
  readonly password: string
}

export interface LoginSettings {
  readonly concurrency: number
  /** Send an initial presence once bound. */
  readonly presence: boolean
  readonly boshWaitSeconds?: number
  /** Called as each login completes. */
  readonly onLogin?: (link: XmppLink) => void
}

export interface Opened {
  readonly links: XmppLink[]
  /** First connect to last bind result. */
  readonly seconds: number
  /** Each login's duration, ms. */
  readonly loginMs: number[]
}

/**
 * Log in one session per user (resource `resource`), `concurrency` at a time. A failed login
 * stops new ones, closes the rest and rejects.
 */
export async function openSessions(endpoint: Endpoint, users: readonly User[], resource: string, settings: LoginSettings): Promise<Opened> {
  const links: XmppLink[] = new Array<XmppLink>(users.length)
  const loginMs: number[] = []
  const started = performance.now()
  let next = 0
  let failure: Error | undefined
  const worker = async () => {
    while (failure === undefined && next < users.length) {
      const i = next++
      const user = users[i]!
      const begun = performance.now()
      try {
        links[i] = await XmppLink.login({
          kind: endpoint.kind,
          ...(endpoint.port !== undefined ? { port: endpoint.port } : {}),
          ...(endpoint.url !== undefined ? { url: endpoint.url } : {}),
          domain: DOMAIN,
          ...user,
          resource,
          timeoutMs: LOGIN_TIMEOUT_MS,
          presence: settings.presence,
          ...(settings.boshWaitSeconds !== undefined ? { boshWaitSeconds: settings.boshWaitSeconds } : {}),
        })
        loginMs.push(performance.now() - begun)
        settings.onLogin?.(links[i]!)
      } catch (error) {
        failure ??= error as Error
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(settings.concurrency, users.length) }, worker))
  const seconds = (performance.now() - started) / 1000
  if (failure !== undefined) {
    for (const link of links) link?.destroy()
    throw failure
  }
  return { links, seconds, loginMs }
}

/** Close every stream politely (bounded wait); resolves with how many did not close cleanly. */
export async function closeSessions(links: readonly XmppLink[]): Promise<number> {
  const clean = await Promise.all(links.map((link) => link.close(CLOSE_TIMEOUT_MS)))
  return clean.filter((ok) => !ok).length
}

/** `items` rotated left by `by` (round r starts with a different path). */
export function rotate<T>(items: readonly T[], by: number): T[] {
  if (items.length === 0) return []
  const k = ((by % items.length) + items.length) % items.length
  return [...items.slice(k), ...items.slice(0, k)]
}

export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (finite.length === 0) return NaN
  const mid = finite.length >> 1
  return finite.length % 2 === 1 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2
}
