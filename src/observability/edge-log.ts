/**
 * What operators hear about refusals at the edge: one line per distinct
 * cause per `logRepeatIntervalMs`, with what to do about it. The counters
 * (`causeway_refusals_total`) count every one.
 */
import type { Transport } from '../core/session-end.js'
import type { Logger } from './logger.js'
import type { RepeatGate } from './repeat-gate.js'

/** Longest Origin value echoed into a log line (the header is the client's to write). */
export const MAX_LOGGED_ORIGIN = 200

export function boundedOrigin(origin: string | string[] | undefined): string | undefined {
  const value = Array.isArray(origin) ? origin.join(',') : origin
  if (value === undefined) return undefined
  return value.length > MAX_LOGGED_ORIGIN ? `${value.slice(0, MAX_LOGGED_ORIGIN)}…` : value
}

export class EdgeLog {
  constructor(
    private readonly log: Logger,
    private readonly gate: RepeatGate,
  ) {}

  /** A browser page from a site not in `allowedOrigin` tried to open a session. */
  originRefused(transport: Transport, origin: string | undefined, remote: string): void {
    const shown = boundedOrigin(origin) ?? '(none)'
    const verdict = this.gate.admit(`origin ${shown}`)
    if (!verdict.log) return
    this.log.info(
      {
        transport,
        origin: shown,
        remote,
        repeats: verdict.repeats,
        fix: `if pages from ${shown} should connect, add it to allowedOrigin (--allowed-origin ${shown}); otherwise nothing to do`,
      },
      'origin refused',
    )
  }

  /** A session refused because a session cap was reached. */
  capacityRefused(transport: Transport, reason: 'max-sessions' | 'max-sessions-per-ip', remote: string): void {
    const verdict = this.gate.admit(reason === 'max-sessions' ? reason : `${reason} ${remote}`)
    if (!verdict.log) return
    this.log.warn(
      {
        transport,
        reason,
        remote,
        repeats: verdict.repeats,
        fix:
          reason === 'max-sessions'
            ? 'this process holds maxSessions sessions: raise maxSessions (and the file-descriptor limit) or add nodes'
            : `one client address holds maxSessionsPerIp sessions: raise maxSessionsPerIp if ${remote} is a NAT or proxy of many users (behind a proxy, list it in trustedProxy)`,
      },
      'session refused: capacity',
    )
  }
}
