/**
 * What the BOSH core reports beyond the per-session SessionObserver: held
 * requests, §14.3 retransmissions, and why the registry refused a request
 * that no session took. The HTTP adapter wires these to Prometheus.
 */
import type { BoshCondition } from '../conditions.js'

/** Why the registry refused a request without a session to give it to. */
export const REFUSAL_REASONS = [
  'shutting-down',
  'max-sessions',
  'max-sessions-per-ip',
  'invalid-creation',
  'target-refused',
  'unknown-sid',
  'malformed-body',
  /** §19: a request over plain HTTP for a session created over HTTPS (the connection is closed). */
  'insecure-request',
  /** §17.2 see-other-uri: `seeOtherUri` is set, creations are sent there. */
  'see-other-uri',
] as const

export type RefusalReason = (typeof REFUSAL_REASONS)[number]

export interface BoshMetrics {
  /** Held requests went up (+) or down (−) by this much. */
  heldRequests?(delta: number): void
  /** A repeated rid was answered from the response cache. */
  retransmission?(): void
  /** `condition` is absent when the request was dropped without an answer. */
  refused?(reason: RefusalReason, condition?: BoshCondition): void
}
