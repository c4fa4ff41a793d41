/**
 * The SessionObserver both transports hand their session cores: metrics
 * with their label children bound once per transport, the session's record
 * in the SessionDirectory (admin API, status page), the per-session logger,
 * and the one `info` line when a session ends.
 */
import type { Counter } from 'prom-client'
import type { Clock } from '../core/clock.js'
import type { Direction, SessionObserver, StanzaView } from '../core/session-observer.js'
import type { SessionEnd, Transport } from '../core/session-end.js'
import type { UpstreamFailureCause } from '../core/xmpp/upstream-port.js'
import { endConditionLabel } from '../core/session-end.js'
import type { Logger } from './logger.js'
import { summarise } from './logger.js'
import type { Metrics } from './metrics.js'
import type { SessionControls, SessionDirectory, SessionFacts, SessionRecord } from './session-directory.js'

interface TransportCounters {
  readonly stanzas: Readonly<Record<Direction, ReturnType<Counter<'transport' | 'direction'>['labels']>>>
  readonly bytes: Readonly<Record<Direction, ReturnType<Counter<'transport' | 'direction'>['labels']>>>
}

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

/** Builds observers for one transport; label look-ups happen here once, not per stanza. */
export class SessionObservers {
  readonly #counters: TransportCounters

  constructor(
    private readonly context: ObserverContext,
    private readonly transport: Transport,
  ) {
    const bind = (counter: Counter<'transport' | 'direction'>) => ({
      to_upstream: counter.labels(transport, 'to_upstream'),
      to_client: counter.labels(transport, 'to_client'),
    })
    this.#counters = { stanzas: bind(context.metrics.stanzas), bytes: bind(context.metrics.bytes) }
  }

  /** A new session: counted open now, closed when it reports its end. */
  observe(log: Logger, facts: Omit<SessionFacts, 'transport'>): TrackedSession {
    const { transport } = this
    const { metrics, directory, clock, domainLabel, logJid } = this.context
    const counters = this.#counters
    const record = directory.add({ ...facts, transport }, clock.now())
    metrics.sessionsOpen.inc({ transport })
    metrics.sessionsTotal.inc({ transport })
    let ended = false
    const observer: SessionObserver = {
      relayed(direction: Direction, stanza: StanzaView, bytes: number): void {
        counters.stanzas[direction].inc()
        counters.bytes[direction].inc(bytes)
        record.stanzas[direction] += 1
        record.bytes[direction] += bytes
        record.lastActivityAt = clock.now()
        if (log.isLevelEnabled('debug')) log.debug({ stanza: summarise(stanza, bytes) }, DIRECTION_LOG[direction])
      },
      authenticated(): void {
        if (record.authenticatedAt !== undefined) return
        record.authenticatedAt = clock.now()
        metrics.logins.inc({ transport })
        metrics.loginDuration.observe({ transport }, (record.authenticatedAt - record.startedAt) / 1000)
        log.debug('authenticated')
      },
      authFailed(condition: string): void {
        record.authFailures += 1
        record.lastAuthFailure = condition
        metrics.authFailures.inc({ domain: domainLabel(record.domain), condition })
        // The condition only: what the client sent (mechanism data, user name) is never logged.
        log.debug({ condition }, 'authentication failed')
      },
      bound(jid: string): void {
        record.jid = jid
        if (logJid) log.debug({ jid }, 'resource bound')
      },
      upstreamFailed(cause: UpstreamFailureCause, opened: boolean): void {
        if (!opened) metrics.upstreamConnectFailures.inc({ reason: cause })
        metrics.upstreamFailures.inc({ upstream: domainLabel(record.domain), reason: cause })
      },
      ended(end: SessionEnd): void {
        if (ended) return
        ended = true
        directory.remove(record)
        const condition = endConditionLabel(end)
        const durationMs = Math.max(0, Math.round(clock.now() - record.startedAt))
        metrics.sessionsOpen.dec({ transport })
        metrics.closes.inc({ transport, reason: end.reason, condition })
        metrics.sessionDuration.observe({ transport }, durationMs / 1000)
        const domain = record.domain
        log.info(
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
      },
    }
    return {
      observer,
      record,
      attach: (controls) => {
        record.controls = controls
      },
    }
  }
}
