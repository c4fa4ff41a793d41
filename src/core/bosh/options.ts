/**
 * The BOSH bounds, one typed record (XEP-0124 §7.2 negotiates most of them
 * with each client). Values come from the config option table, the only
 * place they are defined and validated; times are milliseconds here and
 * become seconds only in the attributes on the wire.
 */
export interface BoshOptions {
  /** Longest a request is held (§7.2 'wait'), and the 'wait' of a client that asks for none. */
  readonly maxWaitMs: number
  /** Most requests held at once (§7.2 'hold'). */
  readonly maxHold: number
  /** Ceiling on the 'requests' attribute (§11); at least maxHold + 1. */
  readonly maxRequests: number
  /** Longest gap with no request held before the session is dropped (§10). */
  readonly inactivityMs: number
  /** Longest pause a client may ask for (§10 'maxpause'); 0 disables pausing. */
  readonly maxPauseMs: number
  /** Shortest polling interval (§11, §12). */
  readonly pollingMs: number
  /** Delay that batches upstream stanzas into one response; 0 answers at once. */
  readonly coalesceMs: number
  /** Largest request body. */
  readonly maxBodyBytes: number
  /** Upstream output waiting for a request to carry it; past it with no request held, policy-violation. */
  readonly maxPendingBytes: number
  /** Client output the server has not taken; a BOSH client cannot be paused, so past it the session fails. */
  readonly maxUnsentBytes: number
}
