/**
 * What BOSH reports for observability: why sessions end (by XEP-0124 §17.2
 * condition and a finer reason), why creations are refused, held requests
 * and §14.3 retransmissions. The adapter wires BoshMetrics to Prometheus;
 * BoshCounters keeps plain totals (tests, status pages).
 */
import type { BoshCondition } from '../conditions.js'

export type EndReason =
  /** §13: the client sent type='terminate'. */
  | 'client-terminate'
  /** §10: no request for longer than the inactivity (or pause) period. */
  | 'inactivity'
  /** SASL not completed within preAuthTimeoutMs. */
  | 'pre-auth-timeout'
  /** §11: more simultaneous requests than 'requests'. */
  | 'overactivity'
  /** §11, §12: empty requests faster than 'polling'. */
  | 'too-frequent'
  /** §10: pause above maxpause (or pausing not offered). */
  | 'pause-too-long'
  /** §14.2: rid above the window. */
  | 'rid-out-of-window'
  /** §14.2: requests queued behind a rid that never arrived (within wait + inactivity). */
  | 'rid-gap'
  /** §14.3: repeated rid whose response is no longer buffered. */
  | 'response-unavailable'
  /** §15.4: key does not hash to the previous one. */
  | 'bad-key'
  /** §16.4: a 'stream' we never opened. */
  | 'unknown-stream'
  /** A malformed body or a request the session state does not allow. */
  | 'bad-request'
  /** Upstream stanzas waiting for a request exceeded maxPendingBytes. */
  | 'pending-overflow'
  /** The server closed its stream. */
  | 'upstream-closed'
  /** The server sent <stream:error/>. */
  | 'upstream-error'
  /** The server could not be reached or the link broke. */
  | 'upstream-failed'
  /** The process is shutting down. */
  | 'shutdown'

export interface SessionEnd {
  readonly reason: EndReason
  /** Terminal binding condition sent (or that would have been sent); absent for a plain end. */
  readonly condition?: BoshCondition
  /** Short, payload-free explanation for logs. */
  readonly text?: string
}

/** Why the registry refused a request without a session to give it to. */
export type RefusalReason =
  | 'shutting-down'
  | 'max-sessions'
  | 'max-sessions-per-ip'
  | 'invalid-creation'
  | 'target-refused'
  | 'unknown-sid'
  | 'malformed-body'
  /** §19: a request over plain HTTP for a session created over HTTPS (the connection is closed). */
  | 'insecure-request'

export interface BoshMetrics {
  /** Held requests went up (+) or down (−) by this much. */
  heldRequests?(delta: number): void
  /** A repeated rid was answered from the response cache. */
  retransmission?(): void
  /** An upstream element was serialised for the client: its UTF-8 bytes. */
  output?(bytes: number): void
  sessionCreated?(): void
  sessionTerminated?(end: SessionEnd): void
  /** `condition` is absent when the request was dropped without an answer. */
  refused?(reason: RefusalReason, condition?: BoshCondition): void
}

/** Plain totals behind the BoshMetrics hooks. */
export class BoshCounters implements BoshMetrics {
  held = 0
  retransmissions = 0
  created = 0
  readonly terminations = new Map<string, number>()
  readonly refusals = new Map<RefusalReason, number>()

  heldRequests(delta: number): void {
    this.held += delta
  }

  retransmission(): void {
    this.retransmissions += 1
  }

  sessionCreated(): void {
    this.created += 1
  }

  /** Keyed by condition, or 'none' for a plain end. */
  sessionTerminated(end: SessionEnd): void {
    const key = end.condition ?? 'none'
    this.terminations.set(key, (this.terminations.get(key) ?? 0) + 1)
  }

  refused(reason: RefusalReason): void {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1)
  }
}
