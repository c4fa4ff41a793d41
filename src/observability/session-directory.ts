/**
 * The live sessions of this process, both transports, as operators see them:
 * who (client address, Origin, domain, JID), how long, how much, and a
 * handle to end one through its core's terminate path. Filled by the
 * session observers; read by the admin API, the status page and the
 * `causeway_sessions_by_state` gauge. Bounded by `maxSessions`: a record
 * exists exactly as long as its session.
 */
import type { Direction } from '../core/session-observer.js'
import type { Transport } from '../core/session-end.js'
import { TRANSPORTS } from '../core/session-end.js'

export const SESSION_STATES = ['pre-auth', 'authenticated', 'draining'] as const
export type SessionState = (typeof SESSION_STATES)[number]
export { TRANSPORTS }

/** What only the session core knows, asked for when someone looks. */
export interface SessionControls {
  /** The routed domain (once known) and, for BOSH, the requests held now. */
  describe(): { readonly domain?: string | undefined; readonly held?: number }
  /**
   * End the session with `condition` (default `policy-violation`) through the
   * core's one terminate path; false when the condition is not one this
   * transport can send.
   */
  kill(condition: string | undefined): boolean
}

export interface SessionFacts {
  /** The session id as logs show it (a digest, never a BOSH sid). */
  readonly id: string
  readonly transport: Transport
  readonly remote: string
  /** The browser's Origin header, if any (bounded). */
  readonly origin?: string | undefined
}

const NO_CONTROLS: SessionControls = { describe: () => ({}), kill: () => false }

export class SessionRecord {
  readonly id: string
  readonly transport: Transport
  readonly remote: string
  readonly origin: string | undefined
  /** Monotonic order of creation, for stable pagination. */
  readonly seq: number
  readonly startedAt: number
  lastActivityAt: number
  authenticatedAt: number | undefined
  jid: string | undefined
  authFailures = 0
  lastAuthFailure: string | undefined
  readonly stanzas: Record<Direction, number> = { to_upstream: 0, to_client: 0 }
  readonly bytes: Record<Direction, number> = { to_upstream: 0, to_client: 0 }
  controls: SessionControls = NO_CONTROLS

  constructor(facts: SessionFacts, seq: number, now: number) {
    this.id = facts.id
    this.transport = facts.transport
    this.remote = facts.remote
    this.origin = facts.origin
    this.seq = seq
    this.startedAt = now
    this.lastActivityAt = now
  }

  get authenticated(): boolean {
    return this.authenticatedAt !== undefined
  }

  get domain(): string | undefined {
    return this.controls.describe().domain
  }
}

export interface SessionFilter {
  readonly transport?: Transport
  readonly domain?: string
  readonly state?: SessionState
  readonly remote?: string
}

export interface SessionPage {
  readonly records: readonly SessionRecord[]
  /** Sessions matching the filter, on every page. */
  readonly total: number
  /** Pass as `after` for the next page; undefined on the last one. */
  readonly next: number | undefined
}

export class SessionDirectory {
  readonly #records = new Map<string, SessionRecord>()
  #seq = 0
  /** This process is shutting down: every session counts as draining. */
  draining = false

  get size(): number {
    return this.#records.size
  }

  add(facts: SessionFacts, now: number): SessionRecord {
    const record = new SessionRecord(facts, ++this.#seq, now)
    this.#records.set(record.id, record)
    return record
  }

  remove(record: SessionRecord): void {
    if (this.#records.get(record.id) === record) this.#records.delete(record.id)
  }

  get(id: string): SessionRecord | undefined {
    return this.#records.get(id)
  }

  stateOf(record: SessionRecord): SessionState {
    if (this.draining) return 'draining'
    return record.authenticated ? 'authenticated' : 'pre-auth'
  }

  /** Sessions in creation order, `limit` at a time after the `after` cursor. */
  list(filter: SessionFilter, limit: number, after = 0): SessionPage {
    const matching: SessionRecord[] = []
    for (const record of this.#records.values()) {
      if (filter.transport !== undefined && record.transport !== filter.transport) continue
      if (filter.remote !== undefined && record.remote !== filter.remote) continue
      if (filter.state !== undefined && this.stateOf(record) !== filter.state) continue
      if (filter.domain !== undefined && record.domain !== filter.domain) continue
      matching.push(record)
    }
    const start = matching.findIndex((record) => record.seq > after)
    const records = start < 0 ? [] : matching.slice(start, start + limit)
    const last = records.at(-1)
    const more = start >= 0 && start + limit < matching.length
    return { records, total: matching.length, next: more && last ? last.seq : undefined }
  }

  /** Open sessions by transport and state, every combination present (zeros included). */
  counts(): Map<Transport, Map<SessionState, number>> {
    const counts = new Map<Transport, Map<SessionState, number>>(TRANSPORTS.map((t) => [t, new Map(SESSION_STATES.map((s) => [s, 0]))]))
    for (const record of this.#records.values()) {
      const byState = counts.get(record.transport)
      const state = this.stateOf(record)
      byState?.set(state, (byState.get(state) ?? 0) + 1)
    }
    return counts
  }
}
