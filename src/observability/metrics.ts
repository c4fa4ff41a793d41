/**
 * Declared metrics, in one registry per server instance (tests build many).
 *
 * Node.js and process metrics keep the names every Prometheus user knows
 * (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
 * `nodejs_eventloop_lag_seconds`, …); Causeway's own start with
 * `causeway_`. Every label is a bounded set: transports, directions, spec
 * condition names, typed reasons, and upstream domains as configured (a
 * domain without a rule of its own is counted under `*`).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

import type { Direction } from '../core/session-observer.js'
import type { Transport } from '../core/session-end.js'
import { TRANSPORTS } from '../core/session-end.js'

export type { Direction, Transport }

export interface Metrics {
  readonly registry: Registry
  readonly buildInfo: Gauge<'version' | 'node' | 'node_id'>
  readonly sessionsOpen: Gauge<'transport'>
  readonly sessionsTotal: Counter<'transport'>
  /** Filled in at scrape time from `countSessionsBy` (the SessionDirectory). */
  readonly sessionsByState: Gauge<'transport' | 'state'>
  /** Where `causeway_sessions_by_state` reads its values at each scrape. */
  countSessionsBy(source: () => ReadonlyMap<string, ReadonlyMap<string, number>>): void
  readonly sessionDuration: Histogram<'transport'>
  readonly loginDuration: Histogram<'transport'>
  readonly logins: Counter<'transport'>
  readonly authFailures: Counter<'domain' | 'condition'>
  readonly upstreamConnectFailures: Counter<'reason'>
  readonly upstreamFailures: Counter<'upstream' | 'reason'>
  /** 1 when the last connection attempt to the upstream succeeded, 0 when it failed; absent until one was made. */
  readonly upstreamUp: Gauge<'upstream'>
  /** `causeway_stanzas_total` and `causeway_bytes_total`, read from `relayed` at each scrape. */
  readonly stanzas: Counter<'transport' | 'direction'>
  readonly bytes: Counter<'transport' | 'direction'>
  /** What the session observers add to per stanza: plain numbers, no label look-up on the relay path. */
  readonly relayed: Readonly<Record<Transport, RelayTally>>
  readonly closes: Counter<'transport' | 'reason' | 'condition'>
  readonly refusals: Counter<'transport' | 'reason'>
  readonly boshHeldRequests: Gauge
  readonly boshRetransmissions: Counter
  readonly tlsReloads: Counter<'result'>
  readonly adminRequests: Counter<'endpoint' | 'status'>
  readonly prebinds: Counter<'result'>
  /** BOSH requests handed to the node that owns their session (src/transports/bosh/forwarding.ts). */
  readonly forwardedRequests: Counter<'peer' | 'outcome'>
  /** Time a forwarded request spent outside its owner: both hops, not the owner's hold. */
  readonly forwardingLatency: Histogram<'peer'>
  /** Requests whose peer proof did not verify (refused with 403). */
  readonly peerProofFailures: Counter<'reason'>
}

/** Stanzas and bytes relayed by one transport, each way. */
export interface RelayTally {
  readonly stanzas: Record<Direction, number>
  readonly bytes: Record<Direction, number>
}

const newTally = (): RelayTally => ({ stanzas: { to_upstream: 0, to_client: 0 }, bytes: { to_upstream: 0, to_client: 0 } })

/** A counter of relayed traffic whose values are the tallies' at scrape time. */
function tallyCounter(
  name: string,
  help: string,
  relayed: Readonly<Record<Transport, RelayTally>>,
  pick: (tally: RelayTally) => Record<Direction, number>,
  registers: Registry[],
): Counter<'transport' | 'direction'> {
  return new Counter({
    name,
    help,
    labelNames: ['transport', 'direction'],
    registers,
    collect() {
      this.reset()
      for (const transport of TRANSPORTS) {
        const counts = pick(relayed[transport])
        this.inc({ transport, direction: 'to_upstream' }, counts.to_upstream)
        this.inc({ transport, direction: 'to_client' }, counts.to_client)
      }
    },
  })
}

/** Seconds: a page view, a short visit, a working session, a day. */
const SESSION_DURATION_BUCKETS = [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600]
/** Seconds from the session's start to SASL success: a SCRAM round trip … a user typing a password. */
const LOGIN_DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

export interface MetricsOptions {
  /** Node.js and process metrics (default true). */
  readonly defaultMetrics?: boolean
  readonly version?: string
  readonly nodeId?: string
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry()
  // Standard names, no prefix: dashboards and alerts written for any Node service work as they are.
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry })
  const registers = [registry]
  const buildInfo = new Gauge({
    name: 'causeway_build_info',
    help: 'Always 1: the Causeway version, the Node.js version (node) and the nodeId option (node_id, empty when unset)',
    labelNames: ['version', 'node', 'node_id'],
    registers,
  })
  buildInfo.set({ version: options.version ?? 'unknown', node: process.versions.node, node_id: options.nodeId ?? '' }, 1)
  const relayed = { websocket: newTally(), bosh: newTally() }
  let stateSource: (() => ReadonlyMap<string, ReadonlyMap<string, number>>) | undefined
  const sessionsByState: Gauge<'transport' | 'state'> = new Gauge({
    name: 'causeway_sessions_by_state',
    help: 'Open client sessions by state: pre-auth (not yet authenticated), authenticated, draining (this process is shutting down)',
    labelNames: ['transport', 'state'],
    registers,
    collect() {
      if (!stateSource) return
      sessionsByState.reset()
      for (const [transport, states] of stateSource()) for (const [state, count] of states) sessionsByState.set({ transport, state }, count)
    },
  })
  return {
    registry,
    buildInfo,
    sessionsByState,
    countSessionsBy: (source) => {
      stateSource = source
    },
    sessionsOpen: new Gauge({ name: 'causeway_sessions_open', help: 'Client sessions currently open', labelNames: ['transport'], registers }),
    sessionsTotal: new Counter({ name: 'causeway_sessions_total', help: 'Client sessions started', labelNames: ['transport'], registers }),
    sessionDuration: new Histogram({
      name: 'causeway_session_duration_seconds',
      help: 'How long client sessions lasted, from start to end',
      labelNames: ['transport'],
      buckets: SESSION_DURATION_BUCKETS,
      registers,
    }),
    loginDuration: new Histogram({
      name: 'causeway_login_duration_seconds',
      help: 'Time from a session’s start to its SASL or SASL2 success',
      labelNames: ['transport'],
      buckets: LOGIN_DURATION_BUCKETS,
      registers,
    }),
    logins: new Counter({ name: 'causeway_logins_total', help: 'Sessions that authenticated (SASL or SASL2 success)', labelNames: ['transport'], registers }),
    authFailures: new Counter({
      name: 'causeway_auth_failures_total',
      help: 'SASL or SASL2 failures from the XMPP server, by configured domain (* for the fallback rule) and RFC 6120 §6.5 condition',
      labelNames: ['domain', 'condition'],
      registers,
    }),
    upstreamConnectFailures: new Counter({
      name: 'causeway_upstream_connect_failures_total',
      help: 'Upstream connections that failed before the stream opened',
      labelNames: ['reason'],
      registers,
    }),
    upstreamFailures: new Counter({
      name: 'causeway_upstream_failures_total',
      help: 'Upstream streams that failed (before or after opening), by configured upstream (its domain, * for the fallback rule) and typed cause',
      labelNames: ['upstream', 'reason'],
      registers,
    }),
    upstreamUp: new Gauge({
      name: 'causeway_upstream_up',
      help: '1 when the latest connection to this configured upstream (session or probe) succeeded, 0 when it failed',
      labelNames: ['upstream'],
      registers,
    }),
    relayed,
    stanzas: tallyCounter('causeway_stanzas_total', 'Top-level elements relayed', relayed, (tally) => tally.stanzas, registers),
    bytes: tallyCounter('causeway_bytes_total', 'Bytes of XML relayed', relayed, (tally) => tally.bytes, registers),
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
    adminRequests: new Counter({
      name: 'causeway_admin_requests_total',
      help: 'Admin API requests, by endpoint and HTTP status (401: no or wrong token)',
      labelNames: ['endpoint', 'status'],
      registers,
    }),
    prebinds: new Counter({
      name: 'causeway_prebinds_total',
      help: 'POST /admin/prebind outcomes: ok, auth-failed, refused (domain, capacity, draining), rate-limited, failed (upstream)',
      labelNames: ['result'],
      registers,
    }),
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
