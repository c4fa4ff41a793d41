/**
 * The BOSH session's UpstreamPort over a real UpstreamStream: the same
 * connector, reader and STARTTLS handling as the WebSocket transport.
 */
import { serialize } from '../../core/xml/serialize.js'
import net from 'node:net'
import type { Element } from 'ltx'
import type { UpstreamOpenRequest, UpstreamPort, UpstreamSink } from '../../core/bosh/upstream-port.js'
import type { StreamInfo } from '../../core/xmpp/stream-header.js'
import type { Logger } from '../../observability/logger.js'
import { summarise } from '../../observability/logger.js'
import type { Metrics } from '../../observability/metrics.js'
import type { RouteResult, UpstreamTarget } from '../../upstream/routing.js'
import { UpstreamStream } from '../../upstream/upstream-stream.js'
import type { UpstreamCloseReason, UpstreamHandler, UpstreamSettings } from '../../upstream/upstream-stream.js'

export interface BoshUpstreamSettings {
  readonly route: (domain: string) => RouteResult
  readonly upstream: Omit<UpstreamSettings, 'target'>
  /** Bytes from the client the server may leave unread before the session ends. */
  readonly maxUnsentBytes: number
}

function isLoopback(target: UpstreamTarget): boolean {
  if (target.kind === 'srv') return false
  return target.host === 'localhost' || (net.isIP(target.host) !== 0 && (target.host.startsWith('127.') || target.host === '::1'))
}

export class BoshUpstream implements UpstreamPort, UpstreamHandler {
  #stream: UpstreamStream | undefined
  #target: UpstreamTarget | undefined
  /** After close() the session hears nothing more (UpstreamPort contract). */
  #detached = false
  #requireSecure = false

  constructor(
    private readonly sink: UpstreamSink,
    private readonly settings: BoshUpstreamSettings,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  open(request: UpstreamOpenRequest): void {
    const route = this.settings.route(request.to)
    if (!route.ok) {
      // The registry already checked; configuration cannot change under a live server.
      queueMicrotask(() => this.#deliver(() => this.sink.upstreamClosed({ reason: 'failed', condition: 'host-unknown', text: route.reason })))
      return
    }
    this.#target = route.target
    this.#requireSecure = request.secure
    const open = {
      to: route.domain,
      ...(request.lang !== undefined ? { lang: request.lang } : {}),
      ...(request.from !== undefined ? { from: request.from } : {}),
    }
    this.#stream = new UpstreamStream(open, { ...this.settings.upstream, target: route.target }, this, this.log)
    this.#stream.start()
  }

  send(elements: readonly Element[]): void {
    const stream = this.#stream
    if (!stream) return
    for (const element of elements) {
      const xml = serialize(element)
      const bytes = Buffer.byteLength(xml)
      if (this.log.isLevelEnabled('debug')) this.log.debug({ stanza: summarise(element, bytes) }, 'client → upstream')
      this.metrics.stanzas.inc({ transport: 'bosh', direction: 'to_upstream' })
      this.metrics.bytes.inc({ transport: 'bosh', direction: 'to_upstream' }, bytes)
      stream.send(xml)
    }
    // A BOSH client cannot be paused, so a server that stops reading gets a
    // hard cap as well as the stream's drain deadline.
    if (stream.bufferedBytes > this.settings.maxUnsentBytes) {
      this.log.info({ buffered: stream.bufferedBytes }, 'upstream not reading: session ended')
      this.#abandon('upstream stopped reading')
    }
  }

  restart(): void {
    this.#stream?.restart()
  }

  close(): void {
    this.#detached = true
    this.#stream?.close()
  }

  // ── UpstreamHandler ──

  opened(info: StreamInfo, features: Element): void {
    const secure = this.#stream?.secure === true || (this.#target !== undefined && isLoopback(this.#target))
    if (this.#requireSecure && !secure) {
      // XEP-0124 §7.1 'secure': the client asked for an encrypted server link we do not have.
      this.#abandon('the link to the XMPP server is not encrypted')
      return
    }
    const header = { secure, ...(info.id !== undefined ? { id: info.id } : {}), ...(info.from !== undefined ? { from: info.from } : {}), version: info.version ?? '1.0' }
    this.#deliver(() => this.sink.upstreamOpened(header, features))
  }

  element(element: Element): void {
    // Bytes are counted by the session as it serialises the stanza into a body (BoshMetrics.output).
    if (this.log.isLevelEnabled('debug')) this.log.debug({ stanza: summarise(element, Buffer.byteLength(serialize(element))) }, 'upstream → client')
    this.metrics.stanzas.inc({ transport: 'bosh', direction: 'to_client' })
    this.#deliver(() => this.sink.upstreamElement(element))
  }

  closed(reason: UpstreamCloseReason): void {
    this.#stream = undefined
    switch (reason.kind) {
      case 'ended':
        this.#deliver(() => this.sink.upstreamClosed({ reason: 'closed' }))
        return
      case 'stream-error':
        this.#deliver(() => this.sink.upstreamClosed({ reason: 'stream-error', error: reason.error }))
        return
      case 'failed':
        if (reason.connect) this.metrics.upstreamConnectFailures.inc({ reason: reason.reason })
        this.log.info({ detail: reason.failure.text, reason: reason.reason }, 'upstream failed')
        this.#deliver(() =>
          this.sink.upstreamClosed({ reason: 'failed', condition: 'remote-connection-failed', ...(reason.failure.text !== undefined ? { text: reason.failure.text } : {}) }),
        )
        return
    }
  }

  writable(): void {
    // BOSH clients cannot be paused mid-request; the session's pending-bytes cap bounds them instead.
  }

  #deliver(call: () => void): void {
    if (!this.#detached) call()
  }

  /** End the session with remote-connection-failed and drop the stream (silently: we are its owner). */
  #abandon(text: string): void {
    const stream = this.#stream
    this.#stream = undefined
    this.#deliver(() => this.sink.upstreamClosed({ reason: 'failed', condition: 'remote-connection-failed', text }))
    this.#detached = true
    stream?.destroy()
  }
}
