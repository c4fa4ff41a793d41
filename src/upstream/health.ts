/**
 * Whether each configured upstream accepts connections, judged from the
 * latest attempt to reach it: a real session's, or (with
 * `readyRequiresUpstream`) a probe's every `upstreamProbeIntervalMs`. A
 * probe is an XMPP stream opened the way a session opens one (DNS/SRV,
 * TCP, TLS verified, the stream header) and closed at the first features,
 * so it fails for the same reasons a session would.
 *
 * Only failures to reach the server count against it (refused, dns,
 * timeout, network, tls); a server that answers with a stream error is
 * alive, and its refusal is a configuration matter the diagnostics report.
 */
import type { Clock, Timer } from '../core/clock.js'
import type { UpstreamFailureCause } from '../core/xmpp/upstream-port.js'

export type UpstreamState = 'up' | 'down' | 'unknown'

export interface UpstreamStatus {
  /** The configured domain, or `*`. */
  readonly upstream: string
  /** `tcp://127.0.0.1:5222`, `srv`, … */
  readonly target: string
  readonly state: UpstreamState
  /** Clock time of the latest attempt; undefined until one was made. */
  readonly checkedAt: number | undefined
  /** Clock time the state last changed. */
  readonly since: number | undefined
  /** Why it is down. */
  readonly cause?: UpstreamFailureCause
}

/** Causes that mean "the server could not be reached", as opposed to "it misbehaved once reached". */
export const UNREACHABLE: ReadonlySet<UpstreamFailureCause> = new Set(['refused', 'dns', 'timeout', 'network', 'tls'])

export interface HealthDeps {
  readonly clock: Clock
  /** Every upstream label with its target in URL form, in configuration order. */
  readonly upstreams: ReadonlyArray<{ readonly upstream: string; readonly target: string }>
  /** Open one probe stream to `upstream`; resolves when it opened or failed (the outcome also arrives through `reached`/`failed`). */
  readonly probe?: (upstream: string) => Promise<void>
  /** The state of one upstream changed. */
  readonly changed?: (upstream: string, up: boolean) => void
}

interface Entry {
  upstream: string
  target: string
  state: UpstreamState
  checkedAt: number | undefined
  since: number | undefined
  cause: UpstreamFailureCause | undefined
}

export class UpstreamHealth {
  readonly #entries = new Map<string, Entry>()
  #timer: Timer | undefined
  #probing = false
  #stopped = false

  constructor(private readonly deps: HealthDeps) {
    for (const { upstream, target } of deps.upstreams) {
      this.#entries.set(upstream, { upstream, target, state: 'unknown', checkedAt: undefined, since: undefined, cause: undefined })
    }
  }

  /** A stream to `upstream` opened. */
  reached(upstream: string): void {
    this.#set(upstream, 'up', undefined)
  }

  /** A stream to `upstream` failed before it opened. */
  failed(upstream: string, cause: UpstreamFailureCause): void {
    if (UNREACHABLE.has(cause)) this.#set(upstream, 'down', cause)
  }

  /** At least one configured upstream accepted its latest connection. */
  anyUp(): boolean {
    for (const entry of this.#entries.values()) if (entry.state === 'up') return true
    return false
  }

  status(): UpstreamStatus[] {
    return [...this.#entries.values()].map((e) => ({
      upstream: e.upstream,
      target: e.target,
      state: e.state,
      checkedAt: e.checkedAt,
      since: e.since,
      ...(e.cause !== undefined ? { cause: e.cause } : {}),
    }))
  }

  /** Probe every upstream now and then every `intervalMs` until stop(). */
  startProbing(intervalMs: number): void {
    const probe = this.deps.probe
    if (!probe || this.#timer || this.#stopped) return
    const round = () => {
      if (this.#stopped || this.#probing) return
      this.#probing = true
      void Promise.allSettled([...this.#entries.keys()].map((upstream) => probe(upstream))).then(() => {
        this.#probing = false
        if (!this.#stopped) this.#timer = this.deps.clock.setTimeout(round, intervalMs)
      })
    }
    round()
  }

  stop(): void {
    this.#stopped = true
    this.#timer?.cancel()
    this.#timer = undefined
  }

  #set(upstream: string, state: UpstreamState, cause: UpstreamFailureCause | undefined): void {
    const entry = this.#entries.get(upstream)
    if (!entry) return
    const now = this.deps.clock.now()
    entry.checkedAt = now
    entry.cause = cause
    if (entry.state === state) return
    entry.state = state
    entry.since = now
    this.deps.changed?.(upstream, state === 'up')
  }
}
