/**
 * Declared metrics, in one registry per server instance (tests build many).
 * Labels are bounded sets: transports, directions and spec condition names.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'

import type { Direction } from '../core/session-observer.js'
import type { Transport } from '../core/session-end.js'

export type { Direction, Transport }

export interface Metrics {
  readonly registry: Registry
  readonly sessionsOpen: Gauge<'transport'>
  readonly sessionsTotal: Counter<'transport'>
  readonly upstreamConnectFailures: Counter<'reason'>
  readonly stanzas: Counter<'transport' | 'direction'>
  readonly bytes: Counter<'transport' | 'direction'>
  readonly closes: Counter<'transport' | 'reason' | 'condition'>
  readonly refusals: Counter<'transport' | 'reason'>
  readonly boshHeldRequests: Gauge
  readonly boshRetransmissions: Counter
  readonly tlsReloads: Counter<'result'>
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry()
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'causeway_' })
  const registers = [registry]
  return {
    registry,
    sessionsOpen: new Gauge({ name: 'causeway_sessions_open', help: 'Client sessions currently open', labelNames: ['transport'], registers }),
    sessionsTotal: new Counter({ name: 'causeway_sessions_total', help: 'Client sessions started', labelNames: ['transport'], registers }),
    upstreamConnectFailures: new Counter({
      name: 'causeway_upstream_connect_failures_total',
      help: 'Upstream connections that failed before the stream opened',
      labelNames: ['reason'],
      registers,
    }),
    stanzas: new Counter({ name: 'causeway_stanzas_total', help: 'Top-level elements relayed', labelNames: ['transport', 'direction'], registers }),
    bytes: new Counter({ name: 'causeway_bytes_total', help: 'Bytes of XML relayed', labelNames: ['transport', 'direction'], registers }),
    closes: new Counter({
      name: 'causeway_session_closes_total',
      help: 'Sessions ended, by typed reason and the condition sent (normal for none); see docs/conditions.md',
      labelNames: ['transport', 'reason', 'condition'],
      registers,
    }),
    refusals: new Counter({
      name: 'causeway_refusals_total',
      help: 'Connections or requests refused before a session existed',
      labelNames: ['transport', 'reason'],
      registers,
    }),
    boshHeldRequests: new Gauge({ name: 'causeway_bosh_held_requests', help: 'BOSH requests currently held', registers }),
    boshRetransmissions: new Counter({
      name: 'causeway_bosh_retransmissions_total',
      help: 'BOSH responses resent from the missed-response cache',
      registers,
    }),
    tlsReloads: new Counter({ name: 'causeway_tls_reloads_total', help: 'Listener certificate reloads (SIGHUP), by result', labelNames: ['result'], registers }),
  }
}
