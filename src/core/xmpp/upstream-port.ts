/**
 * The one seam between a client session (WebSocket or BOSH) and its RFC 6120
 * client-to-server stream. Both session cores talk to their upstream only
 * through UpstreamPort and hear back only through UpstreamSink, and the one
 * implementation behind the port is the ClientStream core, so an upstream
 * behaves the same whichever transport the client chose.
 */
import type { Element } from 'ltx'
import type { StreamCondition } from '../conditions.js'
import type { XmlElement } from '../xml/tokenizer.js'

/** What a session asks for when it opens its stream. */
export interface UpstreamOpenRequest {
  /** The routed, normalised domain for `<stream:stream to=…>`. */
  readonly to: string
  readonly lang?: string
  /** The client's identity to forward (XEP-0124 §7.1 'from'). */
  readonly from?: string
}

/** The server's stream header, as far as the sessions care. */
export interface UpstreamHeader {
  /** Stream id (BOSH: the deprecated 'authid', XEP-0206 §4). */
  readonly id?: string
  readonly from?: string
  readonly version?: string
  readonly lang?: string
  /** The link is encrypted (direct TLS or STARTTLS) or never leaves this host: XEP-0124 §7.2 'secure'. */
  readonly secure: boolean
}

/**
 * Why we could not reach or keep the server, with what each means (for
 * docs/conditions.md). Labels `causeway_upstream_connect_failures_total{reason}`
 * when the stream never opened.
 */
export const UPSTREAM_FAILURE_CAUSES = {
  refused: 'TCP connection refused (`ECONNREFUSED`)',
  dns: 'the server could not be located (SRV and host lookups found nothing)',
  timeout: 'no stream features within `upstreamConnectTimeoutMs` (DNS, TCP, TLS and the stream header included)',
  network: 'another socket error, or the connection closed before the stream opened',
  tls: 'TLS handshake or certificate failure, STARTTLS refused, or not offered where `starttls://` requires it',
  protocol: 'the server broke RFC 6120: a bad header, bad XML, an unexpected element, or a stream closed before its features',
  lost: 'the open stream’s connection was lost without `</stream:stream>`',
  'not-reading': 'the server left our output unread for `drainTimeoutMs` (or, for BOSH, past 4× `writeBufferHighWaterBytes`)',
} as const

export type UpstreamFailureCause = keyof typeof UPSTREAM_FAILURE_CAUSES

export type UpstreamEnd =
  /** The stream ended cleanly: the server's `</stream:stream>`, or our own close completed. */
  | { readonly kind: 'closed' }
  /** The server sent `<stream:error/>`; `error` is the element, to forward as is. */
  | { readonly kind: 'stream-error'; readonly error: Element; readonly condition: StreamCondition }
  /**
   * We could not reach or keep the server. `opened`: the stream had opened
   * (features seen) before. `text` is safe to send to the client; `detail`
   * is for the operator's log only.
   */
  | { readonly kind: 'failed'; readonly cause: UpstreamFailureCause; readonly opened: boolean; readonly text: string; readonly detail?: string }
  /** No SASL/SASL2 success within the pre-authentication period; our stream was closed. */
  | { readonly kind: 'auth-timeout' }

/**
 * What the session hears. A port may report from inside one of its own
 * methods (close() before the stream opened, say); both session cores run
 * each input to completion before the next, so such a report is handled
 * after the call that caused it.
 */
export interface UpstreamSink {
  /** The stream (re)opened: the server's header and the features the client may see. */
  upstreamOpened(header: UpstreamHeader, features: Element): void
  /**
   * One top-level element other than features and stream errors, as the
   * bytes the server sent (its namespace inherited from the stream root).
   */
  upstreamStanza(stanza: XmlElement): void
  /** Everything one read from the server completed has been handed over (answer with all of it at once). */
  upstreamBatchEnd(): void
  /** SASL or SASL2 (XEP-0388) `<success/>` arrived: the pre-authentication period is over. */
  upstreamAuthenticated(): void
  /** The server answered a SASL or SASL2 attempt with `<failure/>` (RFC 6120 §6.5): its condition. */
  upstreamAuthFailed?(condition: string): void
  /** The server bound a resource for the client (RFC 6120 §7.6.1) or named a full JID in SASL2 success. */
  upstreamBound?(jid: string): void
  /** The server took the data it was slow to take; a paused client may send again. */
  upstreamWritable(): void
  /** Exactly once, unless the session ended it with `detach()`. */
  upstreamClosed(end: UpstreamEnd): void
}

export interface UpstreamPort {
  /** Connect and send the stream header. Called once. */
  open(request: UpstreamOpenRequest): void
  /**
   * One element's bytes, in order. May be called before the stream is
   * open: it waits until our negotiation is done. Returns false when the
   * server is not keeping up; the session stops reading its client until
   * `upstreamWritable()`. The bytes must not change afterwards.
   */
  send(bytes: Uint8Array): boolean
  /** RFC 6120 §4.3.3 / XEP-0206 §5 / RFC 7395 §3.5: a new stream on the same connection after SASL. */
  restart(): void
  /** Stop reading from the server (the client cannot take more). */
  pause(): void
  resume(): void
  /** Send `</stream:stream>` and close; the sink hears `closed` when it is over. */
  close(): void
  /**
   * Drop the connection without ending the XML stream, so the server can
   * keep a XEP-0198 session for the client to resume. The sink hears nothing more.
   */
  detach(): void
  /** Bytes accepted by `send` but not yet handed to the kernel. */
  readonly bufferedBytes: number
}

/** How sessions reach their upstream: route a requested domain, then open a stream to it. */
export interface UpstreamConnector {
  /**
   * RFC 6120 §4.9.3.7 / XEP-0124 §17.2: no `to` is `improper-addressing`;
   * RFC 6120 §4.9.3.6: a domain nobody routes is `host-unknown`.
   */
  route(to: string | undefined): RouteVerdict
  /** A port for one session; `sink` hears everything the stream reports. */
  connect(sink: UpstreamSink): UpstreamPort
}

export type RouteVerdict =
  | { readonly ok: true; readonly domain: string }
  | { readonly ok: false; readonly condition: 'host-unknown' | 'improper-addressing'; readonly reason: string }
