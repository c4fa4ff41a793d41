/**
 * What a session reports about itself for logs and metrics. Each transport
 * adapter builds one observer per session (with its logger and its metric
 * children bound once); the session cores call it and know nothing of
 * pino or Prometheus.
 */
import type { SessionEnd } from './session-end.js'
import type { UpstreamFailureCause } from './xmpp/upstream-port.js'

export type Direction = 'to_upstream' | 'to_client'

/** What may be read of a relayed stanza for logs: its name and start-tag attributes. */
export interface StanzaView {
  readonly name: string
  attr(name: string): string | undefined
}

export interface SessionObserver {
  /** A top-level element crossed the relay; `bytes` is its UTF-8 length as sent. */
  relayed(direction: Direction, stanza: StanzaView, bytes: number): void
  /** The client authenticated (SASL or SASL2 success). */
  authenticated(): void
  /**
   * The server refused the client's SASL or SASL2 attempt (RFC 6120 §6.5,
   * XEP-0388 §2.6); `condition` is the SASL condition (`not-authorized`, …),
   * never anything the client sent.
   */
  authFailed?(condition: string): void
  /** The session's full JID, from the server's resource binding result (RFC 6120 §7.6.1) or SASL2 success. */
  bound?(jid: string): void
  /** The XMPP server could not be reached or kept; `opened`: its stream had opened before. */
  upstreamFailed(cause: UpstreamFailureCause, opened: boolean): void
  /** Exactly once, when the session is over. */
  ended(end: SessionEnd): void
}
