/**
 * One XMPP-over-WebSocket session (RFC 7395): a client socket, bound to one
 * upstream stream. Framing lives in core/websocket/framing.ts; this class
 * only sequences it: open → relay → close, with bounds and keepalive.
 */
import type { WebSocket } from 'ws'
import type { Element } from 'ltx'
import type { StreamFailure } from '../../core/conditions.js'
import { streamFailure } from '../../core/conditions.js'
import type { XmlLimits } from '../../core/xml/stream-reader.js'
import {
  CLOSE_MESSAGE,
  clientMessage,
  openMessage,
  parseClientMessage,
  streamErrorMessages,
  upstreamMessage,
} from '../../core/websocket/framing.js'
import type { ClientFrame } from '../../core/websocket/framing.js'
import type { StreamInfo } from '../../core/xmpp/stream-header.js'
import type { Logger } from '../../observability/logger.js'
import { loggableId, summarise } from '../../observability/logger.js'
import type { Metrics } from '../../observability/metrics.js'
import type { RouteResult } from '../../upstream/routing.js'
import type { UpstreamCloseReason, UpstreamHandler, UpstreamSettings } from '../../upstream/upstream-stream.js'
import { UpstreamStream } from '../../upstream/upstream-stream.js'

export interface WebSocketSessionSettings {
  readonly limits: XmlLimits
  readonly pingIntervalMs: number
  readonly closeTimeoutMs: number
  readonly highWaterBytes: number
  readonly drainTimeoutMs: number
  /** A session that has not completed SASL by then is ended (policy-violation). */
  readonly preAuthTimeoutMs: number
  readonly route: (domain: string) => RouteResult
  readonly upstream: Omit<UpstreamSettings, 'target'>
}

type State = 'awaiting-open' | 'connecting' | 'open' | 'closing' | 'closed'

/** RFC 6455 §7.4.1 status codes used here. */
const WS_NORMAL = 1000
const WS_GOING_AWAY = 1001
const WS_UNSUPPORTED_DATA = 1003

/** RFC 6120 SASL and XEP-0388 SASL2: their <success/> ends the pre-authentication period. */
const SASL_NAMESPACES = new Set(['urn:ietf:params:xml:ns:xmpp-sasl', 'urn:xmpp:sasl:2'])

export class WebSocketSession implements UpstreamHandler {
  #state: State = 'awaiting-open'
  #upstream: UpstreamStream | undefined
  #domain: string | undefined
  /** Whether the client has been sent an `<open/>` for the current stream. */
  #openSent = false
  #alive = true
  #pingTimer: NodeJS.Timeout | undefined
  #closeTimer: NodeJS.Timeout | undefined
  #drainTimer: NodeJS.Timeout | undefined
  #preAuthTimer: NodeJS.Timeout | undefined
  #upstreamPaused = false
  #clientPaused = false
  /** How the session ended, for metrics; set once. */
  #outcome: string | undefined
  /** Server shutdown asked for this end: the WebSocket closes with 1001. */
  #shuttingDown = false
  #finished = false
  readonly done: Promise<void>
  #resolveDone!: () => void

  constructor(
    private readonly socket: WebSocket,
    private readonly settings: WebSocketSessionSettings,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    this.done = new Promise((resolve) => (this.#resolveDone = resolve))
    metrics.sessionsOpen.inc({ transport: 'websocket' })
    metrics.sessionsTotal.inc({ transport: 'websocket' })
    socket.on('message', (data, isBinary) => this.#onMessage(data, isBinary))
    socket.on('close', (code) => this.#onSocketClose(code))
    socket.on('error', (error) => this.log.debug({ err: error.message }, 'websocket error'))
    socket.on('pong', () => (this.#alive = true))
    this.#preAuthTimer = setTimeout(() => {
      this.log.info('authentication not completed in time')
      this.#fail(streamFailure('policy-violation', 'authentication not completed in time'))
    }, settings.preAuthTimeoutMs)
    this.#preAuthTimer.unref()
    if (settings.pingIntervalMs > 0) {
      this.#pingTimer = setInterval(() => this.#ping(), settings.pingIntervalMs)
      this.#pingTimer.unref()
    }
    log.debug('websocket session started')
  }

  get state(): State {
    return this.#state
  }

  /** Server shutdown: close upstream first, then tell the client with `<close/>`. */
  shutdown(): Promise<void> {
    switch (this.#state) {
      case 'closed':
        break
      case 'awaiting-open':
        this.#sendClose()
        this.#end(WS_GOING_AWAY, 'system-shutdown')
        break
      default:
        this.#outcome ??= 'system-shutdown'
        this.#state = 'closing'
        this.#shuttingDown = true
        if (this.#upstream) this.#upstream.close()
        else this.#onUpstreamGone()
    }
    return this.done
  }

  // ── client side ────────────────────────────────────────────────────────

  #onMessage(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    if (this.#state === 'closed') return
    if (isBinary) {
      // RFC 7395 §3.2: XMPP travels in text frames only.
      this.log.info('binary frame refused')
      this.#closeUpstreamAbruptly()
      this.#end(WS_UNSUPPORTED_DATA, 'unsupported-data', 'binary frames are not XMPP')
      return
    }
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8')
    this.#onFrame(parseClientMessage(text, this.settings.limits))
  }

  #onFrame(frame: ClientFrame): void {
    if (frame.kind === 'error') {
      this.#fail(frame.failure)
      return
    }
    switch (this.#state) {
      case 'awaiting-open':
        if (frame.kind !== 'open') {
          this.#fail(streamFailure('bad-format', '<open/> must come first (RFC 7395 §3.4)'))
          return
        }
        this.#openUpstream(frame)
        return
      case 'connecting':
      case 'open':
        if (frame.kind === 'open') {
          // RFC 7395 §3.5: a new <open/> after SASL success restarts the stream.
          this.#openSent = false
          this.#upstream?.restart()
          return
        }
        if (frame.kind === 'close') {
          this.#outcome ??= 'normal'
          this.#state = 'closing'
          this.#upstream?.close()
          return
        }
        this.#forward(frame.element, frame.bytes)
        return
      case 'closing':
      case 'closed':
        // RFC 7395 §3.6: after <close/> nothing more is processed.
        return
    }
  }

  #openUpstream(frame: Extract<ClientFrame, { kind: 'open' }>): void {
    const route = frame.to === undefined ? undefined : this.settings.route(frame.to)
    if (!route || !route.ok) {
      // RFC 6120 §4.9.1.2: the error travels in a stream, so open one first.
      this.log.info({ to: frame.to, reason: route && !route.ok ? route.reason : 'no to' }, 'stream refused')
      this.#fail(streamFailure('host-unknown', frame.to === undefined ? "the 'to' attribute is required" : 'this domain is not served here'))
      return
    }
    this.#domain = route.domain
    this.#state = 'connecting'
    const request = { to: route.domain, ...(frame.lang !== undefined ? { lang: frame.lang } : {}) }
    this.#upstream = new UpstreamStream(request, { ...this.settings.upstream, target: route.target }, this, this.log)
    this.#upstream.start()
  }

  #forward(element: Element, bytes: number): void {
    const upstream = this.#upstream
    if (!upstream) return
    const xml = upstreamMessage(element)
    if (this.log.isLevelEnabled('debug')) this.log.debug({ stanza: summarise(element, bytes) }, 'client → upstream')
    this.metrics.stanzas.inc({ transport: 'websocket', direction: 'to_upstream' })
    this.metrics.bytes.inc({ transport: 'websocket', direction: 'to_upstream' }, Buffer.byteLength(xml))
    if (!upstream.send(xml) && !this.#clientPaused) {
      // The server is slow: stop reading the client until it catches up.
      this.#clientPaused = true
      this.socket.pause()
    }
  }

  // ── upstream side (UpstreamHandler) ────────────────────────────────────

  writable(): void {
    if (this.#clientPaused) {
      this.#clientPaused = false
      this.socket.resume()
    }
  }

  opened(info: StreamInfo, features: Element): void {
    if (this.#state === 'connecting') this.#state = 'open'
    this.#openSent = true
    this.#send(openMessage({ ...info, from: info.from ?? this.#domain }))
    this.#send(clientMessage(features))
    this.log.debug({ streamId: info.id === undefined ? undefined : loggableId(info.id) }, 'stream open')
  }

  element(element: Element): void {
    if (this.#state === 'closed') return
    if (this.#preAuthTimer && element.getName() === 'success' && SASL_NAMESPACES.has(element.getNS() ?? '')) {
      clearTimeout(this.#preAuthTimer)
      this.#preAuthTimer = undefined
    }
    const xml = clientMessage(element)
    if (this.log.isLevelEnabled('debug')) this.log.debug({ stanza: summarise(element, Buffer.byteLength(xml)) }, 'upstream → client')
    this.metrics.stanzas.inc({ transport: 'websocket', direction: 'to_client' })
    this.metrics.bytes.inc({ transport: 'websocket', direction: 'to_client' }, Buffer.byteLength(xml))
    this.#send(xml)
  }

  closed(reason: UpstreamCloseReason): void {
    this.#upstream = undefined
    if (this.#state === 'closed') return
    switch (reason.kind) {
      case 'ended':
        this.#outcome ??= 'normal'
        this.#onUpstreamGone()
        return
      case 'stream-error': {
        const condition = reason.error.getChildElements()[0]?.getName() ?? 'undefined-condition'
        this.#outcome ??= condition
        this.log.info({ condition }, 'upstream stream error forwarded')
        this.#ensureOpenSent()
        this.#send(clientMessage(reason.error))
        this.#send(CLOSE_MESSAGE)
        this.#end(WS_NORMAL, condition)
        return
      }
      case 'failed':
        if (reason.connect) this.metrics.upstreamConnectFailures.inc({ reason: reason.reason })
        this.log.info({ condition: reason.failure.condition, detail: reason.failure.text, reason: reason.reason }, 'upstream failed')
        this.#fail(reason.failure)
        return
    }
  }

  /** Upstream closed cleanly: answer or announce with `<close/>` (RFC 7395 §3.6). */
  #onUpstreamGone(): void {
    this.#sendClose()
    if (this.#shuttingDown) {
      this.#end(WS_GOING_AWAY, 'system-shutdown')
      return
    }
    this.#state = 'closing'
    // The client should now close the WebSocket; if it does not, we do.
    this.#closeTimer = setTimeout(() => this.#end(WS_NORMAL, this.#outcome ?? 'normal'), this.settings.closeTimeoutMs)
    this.#closeTimer.unref()
  }

  // ── shared ─────────────────────────────────────────────────────────────

  /** One terminate path: stream error, `<close/>`, WebSocket close. */
  #fail(failure: StreamFailure): void {
    if (this.#state === 'closed') return
    this.#outcome ??= failure.condition
    this.log.info({ condition: failure.condition, detail: failure.text }, 'stream error sent')
    this.#closeUpstreamAbruptly()
    this.#ensureOpenSent()
    const [error, close] = streamErrorMessages(failure)
    this.#send(error)
    this.#send(close)
    this.#end(WS_NORMAL, failure.condition)
  }

  #ensureOpenSent(): void {
    if (this.#openSent) return
    this.#openSent = true
    this.#send(openMessage({ ...(this.#domain !== undefined ? { from: this.#domain } : {}), version: '1.0' }))
  }

  #closeUpstreamAbruptly(): void {
    const upstream = this.#upstream
    this.#upstream = undefined
    upstream?.destroy()
  }

  #sendClose(): void {
    this.#send(CLOSE_MESSAGE)
  }

  #send(xml: string): void {
    const socket = this.socket
    if (socket.readyState !== socket.OPEN) return
    socket.send(xml, (error) => {
      if (!error) this.#checkClientDrained()
    })
    if (socket.bufferedAmount > this.settings.highWaterBytes && !this.#upstreamPaused) {
      // The client is slow: stop reading the server, and give the client a deadline.
      this.#upstreamPaused = true
      this.#upstream?.pause()
      this.#drainTimer = setTimeout(() => {
        // A closing handshake would queue behind the data it is not reading.
        this.log.info('client did not drain in time')
        this.#cutOff('resource-constraint')
      }, this.settings.drainTimeoutMs)
      this.#drainTimer.unref()
    }
  }

  #checkClientDrained(): void {
    if (!this.#upstreamPaused) return
    if (this.socket.bufferedAmount > this.settings.highWaterBytes / 2) return
    this.#upstreamPaused = false
    if (this.#drainTimer) clearTimeout(this.#drainTimer)
    this.#drainTimer = undefined
    this.#upstream?.resume()
  }

  #ping(): void {
    if (!this.#alive) {
      // RFC 6455 §5.5.2: a peer that answers no ping is gone.
      this.log.info('no pong: closing')
      this.#cutOff('connection-timeout')
      return
    }
    this.#alive = false
    this.socket.ping()
  }

  /** End without any handshake: the peer is not listening. */
  #cutOff(outcome: string): void {
    this.#outcome ??= outcome
    this.#closeUpstreamAbruptly()
    this.#state = 'closed'
    this.socket.terminate()
  }

  #onSocketClose(code: number): void {
    if (this.#state !== 'closed') {
      // A client that vanishes without <close/> may want to resume (XEP-0198):
      // drop the upstream connection without ending the XMPP stream.
      if (this.#state === 'closing' && this.#upstream?.state === 'closing') {
        // Our </stream:stream> is already on its way: let that close finish on its own.
        this.#upstream = undefined
      } else {
        this.#closeUpstreamAbruptly()
      }
      this.#outcome ??= this.#state === 'closing' ? 'normal' : 'client-gone'
    }
    this.log.debug({ code, outcome: this.#outcome }, 'websocket closed')
    this.#finish()
  }

  #end(code: number, outcome: string, reason?: string): void {
    this.#outcome ??= outcome
    if (this.socket.readyState === this.socket.OPEN || this.socket.readyState === this.socket.CONNECTING) {
      this.socket.close(code, reason)
      // A client that never completes the closing handshake is cut off.
      const timer = setTimeout(() => this.socket.terminate(), this.settings.closeTimeoutMs)
      timer.unref()
      this.socket.once('close', () => clearTimeout(timer))
    }
    this.#state = 'closed'
    if (this.socket.readyState === this.socket.CLOSED) this.#finish()
  }

  #finish(): void {
    if (this.#finished) return
    this.#finished = true
    this.#state = 'closed'
    for (const timer of [this.#closeTimer, this.#drainTimer, this.#preAuthTimer]) if (timer) clearTimeout(timer)
    if (this.#pingTimer) clearInterval(this.#pingTimer)
    this.#closeUpstreamAbruptly()
    this.metrics.sessionsOpen.dec({ transport: 'websocket' })
    this.metrics.closes.inc({ transport: 'websocket', condition: this.#outcome ?? 'normal' })
    this.#resolveDone()
  }
}
