/**
 * The SessionObserver both transports hand their session cores: metrics
 * (relayed traffic as plain numbers, read at scrape time), the session's record
 * in the SessionDirectory (admin API, status page), the per-session logger,
 * and the one `info` line when a session ends.
 */
import type { Clock } from '../core/clock.js'
import type { Direction, SessionObserver, StanzaView } from '../core/session-observer.js'
import type { SessionEnd, Transport } from '../core/session-end.js'
import type { UpstreamFailureCause } from '../core/xmpp/upstream-port.js'
import { endConditionLabel } from '../core/session-end.js'
import type { SessionLog } from './logger.js'
import { summarise } from './logger.js'
import type { Metrics, RelayTally } from './metrics.js'
import type { SessionControls, SessionDirectory, SessionFacts, SessionRecord } from './session-directory.js'

const DIRECTION_LOG: Readonly<Record<Direction, string>> = { to_upstream: 'client → upstream', to_client: 'upstream → client' }

/** What every observer of one server shares. */
export interface ObserverContext {
  readonly metrics: Metrics
  readonly directory: SessionDirectory
  readonly clock: Clock
  /** Put the bound JID in the session-ended line (option `logJid`: personal data, off by default). */
  readonly logJid: boolean
  /** A domain as a bounded label value: a configured domain, or `*` for anything else. */
  readonly domainLabel: (domain: string | undefined) => string
}

/** One session's observer, and the record it keeps; `attach` hands the record its core's controls. */
export interface TrackedSession {
  readonly observer: SessionObserver
  readonly record: SessionRecord
  attach(controls: SessionControls): void
}

/** Builds observers for one transport. */
export class SessionObservers {
  readonly #tally: RelayTally

  constructor(
    private readonly context: ObserverContext,
    private readonly transport: Transport,
  ) {
    this.#tally = context.metrics.relayed[transport]
  }

  /** A new session: counted open now, closed when it reports its end (then `onEnded`, if given). */
  observe(log: SessionLog, facts: Omit<SessionFacts, 'transport'>, onEnded?: (end: SessionEnd) => void): TrackedSession {
    const { transport, context } = this
    const record = context.directory.add({ ...facts, transport }, context.clock.now())
    context.metrics.sessionsOpen.inc({ transport })
    context.metrics.sessionsTotal.inc({ transport })
    return new SessionTracker(context, transport, this.#tally, log, record, onEnded)
  }
}

/**
 * One session's observer and record: a class, so an idle session holds one
 * object and no closures. Per stanza it adds to plain numbers only.
 */
class SessionTracker implements SessionObserver, TrackedSession {
  #ended = false

  constructor(
    private readonly context: ObserverContext,
    private readonly transport: Transport,
    private readonly tally: RelayTally,
    private readonly log: SessionLog,
    readonly record: SessionRecord,
    private readonly onEnded: ((end: SessionEnd) => void) | undefined,
  ) {}

  get observer(): SessionObserver {
    return this
  }

  attach(controls: SessionControls): void {
    this.record.controls = controls
  }

  relayed(direction: Direction, stanza: StanzaView, bytes: number): void {
    const { record, tally } = this
    tally.stanzas[direction] += 1
    tally.bytes[direction] += bytes
    record.stanzas[direction] += 1
    record.bytes[direction] += bytes
    record.lastActivityAt = this.context.clock.now()
    if (this.log.isLevelEnabled('debug')) this.log.debug({ stanza: summarise(stanza, bytes) }, DIRECTION_LOG[direction])
  }

  authenticated(): void {
    const { record, context, transport } = this
    if (record.authenticatedAt !== undefined) return
    record.authenticatedAt = context.clock.now()
    context.metrics.logins.inc({ transport })
    context.metrics.loginDuration.observe({ transport }, (record.authenticatedAt - record.startedAt) / 1000)
    this.log.debug('authenticated')
  }

  authFailed(condition: string): void {
    const { record, context } = this
    record.authFailures += 1
    record.lastAuthFailure = condition
    context.metrics.authFailures.inc({ domain: context.domainLabel(record.domain), condition })
    // The condition only: what the client sent (mechanism data, user name) is never logged.
    this.log.debug({ condition }, 'authentication failed')
  }

  bound(jid: string): void {
    this.record.jid = jid
    if (this.context.logJid) this.log.debug({ jid }, 'resource bound')
  }

  upstreamFailed(cause: UpstreamFailureCause, opened: boolean): void {
    const { metrics, domainLabel } = this.context
    if (!opened) metrics.upstreamConnectFailures.inc({ reason: cause })
    metrics.upstreamFailures.inc({ upstream: domainLabel(this.record.domain), reason: cause })
  }

  ended(end: SessionEnd): void {
    if (this.#ended) return
    this.#ended = true
    const { record, context, transport } = this
    const { metrics, logJid } = context
    context.directory.remove(record)
    const condition = endConditionLabel(end)
    const durationMs = Math.max(0, Math.round(context.clock.now() - record.startedAt))
    metrics.sessionsOpen.dec({ transport })
    metrics.closes.inc({ transport, reason: end.reason, condition })
    metrics.sessionDuration.observe({ transport }, durationMs / 1000)
    const domain = record.domain
    this.log.info(
      {
        reason: end.reason,
        condition,
        ...(end.text !== undefined ? { text: end.text } : {}),
        ...(end.detail !== undefined ? { detail: end.detail } : {}),
        ...(record.origin !== undefined ? { origin: record.origin } : {}),
        ...(domain !== undefined ? { domain } : {}),
        ...(logJid && record.jid !== undefined ? { jid: record.jid } : {}),
        authenticated: record.authenticated,
        ...(record.authFailures > 0 ? { authFailures: record.authFailures, authFailure: record.lastAuthFailure } : {}),
        durationMs,
        stanzasIn: record.stanzas.to_upstream,
        stanzasOut: record.stanzas.to_client,
        bytesIn: record.bytes.to_upstream,
        bytesOut: record.bytes.to_client,
      },
      'session ended',
    )
    this.onEnded?.(end)
  }
}
