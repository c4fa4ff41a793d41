/**
 * Declared metrics, in one registry per server instance (tests build many).
 * Labels are bounded sets: transports, directions and spec condition names.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

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
  /** BOSH requests handed to the node that owns their session (src/transports/bosh/forwarding.ts). */
  readonly forwardedRequests: Counter<'peer' | 'outcome'>
  /** Time a forwarded request spent outside its owner: both hops, not the owner's hold. */
  readonly forwardingLatency: Histogram<'peer'>
  /** Requests whose peer proof did not verify (refused with 403). */
  readonly peerProofFailures: Counter<'reason'>
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
    forwardedRequests: new Counter({
      name: 'causeway_forwarded_requests_total',
      help: 'BOSH requests forwarded to the node owning their session, by peer and outcome (answered, unreachable, refused, dropped, client-gone)',
      labelNames: ['peer', 'outcome'],
      registers,
    }),
    forwardingLatency: new Histogram({
      name: 'causeway_forwarding_latency_seconds',
      help: 'Time a forwarded BOSH request spent outside its owner (both hops; the time the owner held it is not counted), by peer',
      labelNames: ['peer'],
      buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    peerProofFailures: new Counter({
      name: 'causeway_peer_proof_failures_total',
      help: 'Requests refused because their Causeway-Forwarded proof did not verify, by reason',
      labelNames: ['reason'],
      registers,
    }),
  }
}
