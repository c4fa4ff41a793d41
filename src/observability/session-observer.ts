/**
 * The SessionObserver both transports hand their session cores: metrics
 * with their label children bound once per transport, the per-session
 * logger, and one `info` line when a session ends.
 */
import type { Counter } from 'prom-client'
import type { Direction, SessionObserver, StanzaView } from '../core/session-observer.js'
import type { SessionEnd, Transport } from '../core/session-end.js'
import type { UpstreamFailureCause } from '../core/xmpp/upstream-port.js'
import { endConditionLabel } from '../core/session-end.js'
import type { Logger } from './logger.js'
import { summarise } from './logger.js'
import type { Metrics } from './metrics.js'

interface TransportCounters {
  readonly stanzas: Readonly<Record<Direction, ReturnType<Counter<'transport' | 'direction'>['labels']>>>
  readonly bytes: Readonly<Record<Direction, ReturnType<Counter<'transport' | 'direction'>['labels']>>>
}

const DIRECTION_LOG: Readonly<Record<Direction, string>> = { to_upstream: 'client → upstream', to_client: 'upstream → client' }

/** Builds observers for one transport; label look-ups happen here once, not per stanza. */
export class SessionObservers {
  readonly #counters: TransportCounters

  constructor(
    private readonly metrics: Metrics,
    private readonly transport: Transport,
  ) {
    const bind = (counter: Counter<'transport' | 'direction'>) => ({
      to_upstream: counter.labels(transport, 'to_upstream'),
      to_client: counter.labels(transport, 'to_client'),
    })
    this.#counters = { stanzas: bind(metrics.stanzas), bytes: bind(metrics.bytes) }
  }

  /** A new session: counted open now, closed when it reports its end. */
  observe(log: Logger): SessionObserver {
    const { metrics, transport } = this
    const counters = this.#counters
    metrics.sessionsOpen.inc({ transport })
    metrics.sessionsTotal.inc({ transport })
    let ended = false
    return {
      relayed(direction: Direction, stanza: StanzaView, bytes: number): void {
        counters.stanzas[direction].inc()
        counters.bytes[direction].inc(bytes)
        if (log.isLevelEnabled('debug')) log.debug({ stanza: summarise(stanza, bytes) }, DIRECTION_LOG[direction])
      },
      authenticated(): void {
        log.debug('authenticated')
      },
      upstreamFailed(cause: UpstreamFailureCause, opened: boolean): void {
        if (!opened) metrics.upstreamConnectFailures.inc({ reason: cause })
      },
      ended(end: SessionEnd): void {
        if (ended) return
        ended = true
        const condition = endConditionLabel(end)
        metrics.sessionsOpen.dec({ transport })
        metrics.closes.inc({ transport, reason: end.reason, condition })
        log.info({ reason: end.reason, condition, ...(end.text !== undefined ? { text: end.text } : {}), ...(end.detail !== undefined ? { detail: end.detail } : {}) }, 'session ended')
      },
    }
  }
}
