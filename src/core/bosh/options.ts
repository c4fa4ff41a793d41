/**
 * BOSH bounds, one typed record validated once (XEP-0124 §7.2 negotiates
 * most of them with each client). Every bound says what it protects; times
 * that travel on the wire are in seconds like the XEP attributes, the rest
 * are in milliseconds or bytes as their names say.
 */

export interface BoshOptions {
  /** Longest a request is held, seconds (§7.2 'wait'). Protects: sockets and proxies idling past their own timeouts. */
  readonly maxWaitSeconds: number
  /** 'wait' used when the client sends none, seconds (clamped to maxWaitSeconds). */
  readonly defaultWaitSeconds: number
  /** Most requests held at once (§7.2 'hold'). Protects: open HTTP connections per session. */
  readonly maxHold: number
  /**
   * Ceiling on the 'requests' attribute (§11). A session gets
   * max(2, hold + 1) capped by this, so it must be at least maxHold + 1.
   * Protects: concurrent requests and the rid window / response cache size.
   */
  readonly maxRequests: number
  /** Longest gap with no request held before the session is dropped, seconds (§10). Protects: memory of abandoned sessions. */
  readonly inactivitySeconds: number
  /** Longest pause a client may ask for, seconds (§10 'maxpause'); 0 disables pausing. Protects: how long an idle session lingers. */
  readonly maxPauseSeconds: number
  /** Shortest polling interval, seconds (§11, §12). Protects: CPU and upstream from busy-polling clients. */
  readonly pollingSeconds: number
  /** Delay that batches upstream stanzas into one response, ms; 0 answers at once. Protects: response count under stanza bursts. */
  readonly coalesceMs: number
  /** Largest request body, bytes. Protects: parser memory; sized for one 256 KiB stanza plus the wrapper. */
  readonly maxBodyBytes: number
  /**
   * Bytes of upstream stanzas waiting for a request to carry them. Past it
   * with no request held, the session ends with 'policy-violation' (the
   * client stopped keeping a request available, XEP-0124 §10). Protects:
   * memory against a client that never comes back for its data.
   */
  readonly maxPendingBytes: number
  /** Time to finish SASL (upstream restarted after <success/>), ms. Protects: slots held by clients that never log in. */
  readonly preAuthTimeoutMs: number
  /** Sessions in this process. Protects: memory and upstream connections. */
  readonly maxSessions: number
  /** Sessions per client address. Protects: fairness against one address filling maxSessions. */
  readonly maxSessionsPerIp: number
  /**
   * A client 'ack' older than our last response only triggers an immediate
   * 'report' (§9.2) once that response is at least this old, ms. Protects:
   * held requests from being released by acks that merely crossed a response in flight.
   */
  readonly ackReportAfterMs: number
}

export const DEFAULT_MAX_WAIT_SECONDS = 60
export const DEFAULT_DEFAULT_WAIT_SECONDS = 60
export const DEFAULT_MAX_HOLD = 1
export const DEFAULT_MAX_REQUESTS = 2
export const DEFAULT_INACTIVITY_SECONDS = 60
export const DEFAULT_MAX_PAUSE_SECONDS = 120
export const DEFAULT_POLLING_SECONDS = 2
export const DEFAULT_COALESCE_MS = 5
export const DEFAULT_MAX_BODY_BYTES = 256 * 1024 + 8 * 1024
export const DEFAULT_MAX_PENDING_BYTES = 1024 * 1024
export const DEFAULT_PRE_AUTH_TIMEOUT_MS = 60_000
export const DEFAULT_MAX_SESSIONS = 10_000
export const DEFAULT_MAX_SESSIONS_PER_IP = 50
export const DEFAULT_ACK_REPORT_AFTER_MS = 1_000

export const DEFAULT_BOSH_OPTIONS: BoshOptions = {
  maxWaitSeconds: DEFAULT_MAX_WAIT_SECONDS,
  defaultWaitSeconds: DEFAULT_DEFAULT_WAIT_SECONDS,
  maxHold: DEFAULT_MAX_HOLD,
  maxRequests: DEFAULT_MAX_REQUESTS,
  inactivitySeconds: DEFAULT_INACTIVITY_SECONDS,
  maxPauseSeconds: DEFAULT_MAX_PAUSE_SECONDS,
  pollingSeconds: DEFAULT_POLLING_SECONDS,
  coalesceMs: DEFAULT_COALESCE_MS,
  maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
  maxPendingBytes: DEFAULT_MAX_PENDING_BYTES,
  preAuthTimeoutMs: DEFAULT_PRE_AUTH_TIMEOUT_MS,
  maxSessions: DEFAULT_MAX_SESSIONS,
  maxSessionsPerIp: DEFAULT_MAX_SESSIONS_PER_IP,
  ackReportAfterMs: DEFAULT_ACK_REPORT_AFTER_MS,
}

/** A bad option value; `key` names the option so config errors point at it. */
export class BoshOptionsError extends Error {
  constructor(
    readonly key: keyof BoshOptions,
    message: string,
  ) {
    super(`bosh.${key}: ${message}`)
    this.name = 'BoshOptionsError'
  }
}

/** Minimum value per key; every option is an integer. */
const MINIMUM: Record<keyof BoshOptions, number> = {
  maxWaitSeconds: 1,
  defaultWaitSeconds: 0,
  maxHold: 0,
  maxRequests: 1,
  inactivitySeconds: 1,
  maxPauseSeconds: 0,
  pollingSeconds: 0,
  coalesceMs: 0,
  maxBodyBytes: 1024,
  maxPendingBytes: 1024,
  preAuthTimeoutMs: 1,
  maxSessions: 1,
  maxSessionsPerIp: 1,
  ackReportAfterMs: 0,
}

/** Fill in defaults and check every bound once; throws BoshOptionsError naming the key. */
export function resolveBoshOptions(overrides: Partial<BoshOptions> = {}): BoshOptions {
  const options: BoshOptions = { ...DEFAULT_BOSH_OPTIONS, ...overrides }
  for (const key of Object.keys(MINIMUM) as (keyof BoshOptions)[]) {
    const value = options[key]
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      throw new BoshOptionsError(key, `must be an integer, got ${String(value)}`)
    }
    if (value < MINIMUM[key]) throw new BoshOptionsError(key, `must be at least ${MINIMUM[key]}, got ${value}`)
  }
  if (options.defaultWaitSeconds > options.maxWaitSeconds) {
    throw new BoshOptionsError('defaultWaitSeconds', `must not exceed maxWaitSeconds (${options.maxWaitSeconds})`)
  }
  if (options.maxRequests < options.maxHold + 1) {
    throw new BoshOptionsError('maxRequests', `must be at least maxHold + 1 (${options.maxHold + 1})`)
  }
  return options
}
