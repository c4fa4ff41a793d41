/**
 * The seam between a BOSH session and its XMPP server stream (XEP-0124 §3
 * leaves the CM↔server link to the implementation; XEP-0206 §3, §5 say what
 * crosses it). The adapter implements UpstreamPort over TCP/TLS and feeds
 * what the server says into the session's UpstreamSink.
 */
import type { Element } from 'ltx'
import type { BoshCondition } from '../conditions.js'
import type { BoshRoute } from './body.js'

/** What the session asks the adapter to open. */
export interface UpstreamOpenRequest {
  /** Domain for <stream:stream to=…>. */
  readonly to: string
  readonly lang?: string
  /** The client's identity to forward (§7.1 'from'). */
  readonly from?: string
  /** XEP-0206 §3: "The connection manager SHOULD forward the value" of xmpp:version. */
  readonly version: string
  /** §7.1 'route', already accepted by the registry's target check. */
  readonly route?: BoshRoute
  /** The client asked for an encrypted server link (§7.1 'secure'); unable → remote-connection-failed. */
  readonly secure: boolean
}

/**
 * Implemented by the adapter. Calls must not re-enter the session
 * synchronously (report through the sink later); the session also defers
 * re-entrant calls, so a slip is safe, only slower to reason about.
 */
export interface UpstreamPort {
  /** Connect and send the stream header. Called once. */
  open(request: UpstreamOpenRequest): void
  /** Write elements in order. May be called before the stream is open: the port queues them. */
  send(elements: readonly Element[]): void
  /** XEP-0206 §5: send a new stream header on the same connection, and reset the reader. */
  restart(): void
  /** Send </stream:stream> and close. Nothing reaches the sink afterwards. */
  close(): void
}

/** The upstream stream header, as far as the session cares. */
export interface UpstreamHeader {
  /** Stream id: the deprecated 'authid' (XEP-0206 §4). */
  readonly id?: string
  /** The server's identity (§7.2 'from'). */
  readonly from?: string
  /** The stream's version; features follow only for 1.0 and later. */
  readonly version?: string
  /** The link is encrypted (or loopback): §7.2 'secure'. */
  readonly secure: boolean
}

/** Why the upstream stream ended. */
export type UpstreamEnd =
  /** The server closed its stream cleanly. */
  | { readonly reason: 'closed' }
  /** The server sent <stream:error/>; the element is copied to the client (XEP-0206 §7). */
  | { readonly reason: 'stream-error'; readonly error: Element }
  /**
   * The adapter could not reach or keep the server: remote-connection-failed,
   * host-unknown (DNS has no such domain), host-gone, internal-server-error…
   */
  | { readonly reason: 'failed'; readonly condition: BoshCondition; readonly text?: string }

/** What the adapter calls on the session. */
export interface UpstreamSink {
  /** The server's stream header arrived; `features` if the adapter already has them. */
  upstreamOpened(header: UpstreamHeader, features?: Element): void
  /** One complete child of the server's stream (stanza, <stream:features/>, SASL element, <stream:error/>). */
  upstreamElement(element: Element): void
  upstreamClosed(end: UpstreamEnd): void
}
