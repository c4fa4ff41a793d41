/**
 * One XMPP-over-WebSocket session (RFC 7395): the client's WebSocket on one
 * side, one RFC 6120 stream behind an UpstreamPort on the other. Pure: the
 * WebSocket comes in through WebSocketPeer, time through the Clock.
 *
 *   awaiting-open ─<open/>─▶ opening ─upstream open─▶ open ─<close/> or server close─▶ closing ─▶ closed
 *         └──────────────────────┴────────────────────────┴── error, deadline, shutdown ──────────▶ closed
 *
 * `closed` means our last word is on its way; the session is over when the
 * WebSocket itself has closed (`peerClosed`), and reports its end then.
 */
import type { Element } from 'ltx'
import type { Clock, Timer } from '../clock.js'
import type { StreamCondition } from '../conditions.js'
import type { SessionEnd } from '../session-end.js'
import type { SessionObserver } from '../session-observer.js'
import type { XmlLimits } from '../xml/stream-reader.js'
import { utf8Length } from '../xml/utf8.js'
import type { XmlElement } from '../xml/tokenizer.js'
import { standalone } from '../xmpp/stanza.js'
import type { UpstreamConnector, UpstreamEnd, UpstreamHeader, UpstreamPort, UpstreamSink } from '../xmpp/upstream-port.js'
import { CLOSE_MESSAGE, clientMessage, openMessage, readerFor, seeOtherUriMessage, streamErrorMessages } from './framing.js'
import type { ClientMessageReader } from './framing.js'
import type { ClientFrame } from './framing.js'

/** The client's WebSocket, as the `ws` adapter presents it. */
export interface WebSocketPeer {
  /** Queue one text message, as UTF-8 bytes or a string (no-op once the socket is closing). */
  send(message: Uint8Array | string): void
  /** Bytes queued for the client and not yet written to the kernel. */
  readonly bufferedBytes: number
  ping(): void
  /** Start the RFC 6455 closing handshake. */
  close(code: number, reason?: string): void
  /** Drop the TCP connection without a handshake. */
  terminate(): void
  /** Stop (or resume) reading the client's messages: backpressure from a slow server. */
  pauseReading(): void
  resumeReading(): void
}

export interface WebSocketSessionSettings {
  readonly limits: XmlLimits
  /** An upgraded connection that sends no `<open/>` within this gets `connection-timeout`. */
  readonly openTimeoutMs: number
  /** Keepalive ping interval; 0 disables pings. */
  readonly pingIntervalMs: number
  /** How long a peer has to complete a close (after our `<close/>`, after our close frame). */
  readonly closeTimeoutMs: number
  /** Bytes queued for the client above which reading the server pauses. */
  readonly highWaterBytes: number
  /** How long the client may leave its output unread. */
  readonly drainTimeoutMs: number
  /** RFC 7395 §3.6.1: when set, every first `<open/>` is answered with `<close see-other-uri=…/>`. */
  readonly seeOtherUri?: string
}

export interface WebSocketSessionDeps {
  readonly peer: WebSocketPeer
  readonly settings: WebSocketSessionSettings
  readonly clock: Clock
  readonly upstream: UpstreamConnector
  readonly observer: SessionObserver
}

/** RFC 6455 §7.4.1 status codes used here. */
const WS_NORMAL = 1000
const WS_GOING_AWAY = 1001
const WS_UNSUPPORTED_DATA = 1003
/** IANA WebSocket close code registry: "Service Restart"; the client may reconnect. */
const WS_SERVICE_RESTART = 1012

type State = 'awaiting-open' | 'opening' | 'open' | 'closing' | 'closed'

/** How the client hears that the session ended. */
type Farewell =
  /** `<stream:error/>` (opening a stream first if need be), `<close/>`, close 1000. */
  | { readonly kind: 'stream-error'; readonly condition: StreamCondition; readonly text?: string | undefined }
  /** The server's own `<stream:error/>`, forwarded, then `<close/>` and close 1000. */
  | { readonly kind: 'forward-error'; readonly error: Element }
  /** `<close/>`; the client closes the WebSocket, or we do after closeTimeoutMs (RFC 7395 §3.6). */
  | { readonly kind: 'close' }
  /** `<close see-other-uri=…/>` in place of `<open/>`, then as `close` (RFC 7395 §3.6.1). */
  | { readonly kind: 'redirect'; readonly uri: string }
  /** `<close/>` and close 1001 at once: the server is going away. */
  | { readonly kind: 'going-away' }
  /** A WebSocket close with this code and no XMPP words. */
  | { readonly kind: 'ws-close'; readonly code: number; readonly reason: string }
  /** The connection is dropped: the client is not listening. */
  | { readonly kind: 'cut' }
  /** Nothing: the client has already gone, or was already told. */
  | { readonly kind: 'silence' }

export class WebSocketSession implements UpstreamSink {
  #state: State = 'awaiting-open'
  readonly #peer: WebSocketPeer
  readonly #settings: WebSocketSessionSettings
  readonly #clock: Clock
  readonly #connector: UpstreamConnector
  readonly #observer: SessionObserver
  readonly #reader: ClientMessageReader
  #upstream: UpstreamPort | undefined
  #domain: string | undefined
  /** The client has been sent an `<open/>` for the current stream. */
  #openSent = false
  /** The client has been sent our `<close/>`. */
  #closeSent = false
  #authenticated = false
  #alive = true
  #upstreamPaused = false
  #clientPaused = false
  #shuttingDown = false
  /** Why the session is ending, decided once; reported when the socket has closed. */
  #end: SessionEnd | undefined
  #reported = false
  #openTimer: Timer | undefined
  #pingTimer: Timer | undefined
  #drainTimer: Timer | undefined
  #closeTimer: Timer | undefined
  #busy = false
  readonly #inbox: (() => void)[] = []

  constructor(deps: WebSocketSessionDeps) {
    this.#peer = deps.peer
    this.#settings = deps.settings
    this.#clock = deps.clock
    this.#connector = deps.upstream
    this.#observer = deps.observer
    this.#reader = readerFor(deps.settings.limits)
    this.#openTimer = this.#timer(() => {
      this.#openTimer = undefined
      this.#finish({ reason: 'open-timeout', condition: 'connection-timeout', text: 'no <open/> in time' }, { kind: 'stream-error', condition: 'connection-timeout', text: 'no <open/> in time' })
    }, deps.settings.openTimeoutMs)
    if (deps.settings.pingIntervalMs > 0) this.#pingTimer = this.#timer(() => this.#keepalive(), deps.settings.pingIntervalMs)
  }

  get state(): State {
    return this.#state
  }

  get domain(): string | undefined {
    return this.#domain
  }

  get authenticated(): boolean {
    return this.#authenticated
  }

  // ── the client ────────────────────────────────────────────────────────

  /** One text message from the client, as the UTF-8 bytes it arrived as. */
  message(data: Uint8Array): void {
    this.#run(() => {
      switch (this.#state) {
        case 'closing':
        case 'closed':
          // RFC 7395 §3.6: after <close/> nothing more is processed.
          return
        case 'awaiting-open':
        case 'opening':
        case 'open':
          this.#onFrame(this.#reader.read(data))
      }
    })
  }

  /** RFC 7395 §3.2: XMPP travels in text frames only. */
  binaryMessage(): void {
    this.#run(() => {
      // RFC 7395 §3.6: after <close/> nothing more is processed.
      if (this.#state === 'closed' || this.#state === 'closing') return
      const text = 'binary frames are not XMPP'
      this.#finish({ reason: 'binary-frame', condition: 'unsupported-data', text }, { kind: 'ws-close', code: WS_UNSUPPORTED_DATA, reason: text }, 'close')
    })
  }

  /** The WebSocket library refused a message over `maxStanzaBytes` and is closing with 1009 itself. */
  messageTooBig(): void {
    this.#run(() => {
      if (this.#state === 'closed') return
      this.#finish({ reason: 'bad-input', condition: 'policy-violation', text: 'message larger than maxStanzaBytes' }, { kind: 'silence' }, 'close')
    })
  }

  pong(): void {
    this.#alive = true
  }

  /** A queued send reached the kernel: maybe the client has caught up. */
  flushed(): void {
    this.#run(() => {
      if (!this.#upstreamPaused || this.#peer.bufferedBytes > this.#settings.highWaterBytes / 2) return
      this.#upstreamPaused = false
      this.#drainTimer?.cancel()
      this.#drainTimer = undefined
      this.#upstream?.resume()
    })
  }

  /** The WebSocket is closed (handshake done, dropped, or terminated). The session is over. */
  peerClosed(): void {
    this.#run(() => {
      if (this.#reported) return
      switch (this.#state) {
        case 'closed':
          break
        case 'closing':
          // Our </stream:stream> (or the server's) is under way: let that close finish on its own.
          this.#upstream = undefined
          this.#end ??= { reason: 'client-close' }
          break
        case 'awaiting-open':
        case 'opening':
        case 'open':
          // A client that vanishes without <close/> may want to resume (XEP-0198):
          // drop the upstream connection without ending the XML stream.
          this.#end ??= { reason: 'client-gone' }
          this.#detachUpstream()
      }
      this.#state = 'closed'
      this.#report()
    })
  }

  /**
   * An operator ends the session (admin API): the client hears the condition
   * as a stream error, and the server's stream is closed politely, so the
   * server ends that XMPP session too (no XEP-0198 resumption).
   */
  kill(condition: StreamCondition = 'policy-violation', text = 'session ended by the operator'): void {
    this.#run(() => {
      if (this.#state === 'closed') return
      this.#finish({ reason: 'killed', condition, text }, { kind: 'stream-error', condition, text }, 'close')
    })
  }

  /** Server shutdown: the upstream stream is closed first, then the client hears `<close/>` and 1001. */
  shutdown(): void {
    this.#run(() => {
      this.#shuttingDown = true
      switch (this.#state) {
        case 'closed':
          return
        case 'awaiting-open':
          this.#finish({ reason: 'shutdown', condition: 'system-shutdown' }, { kind: 'going-away' })
          return
        case 'opening':
        case 'open':
        case 'closing':
          this.#end ??= { reason: 'shutdown', condition: 'system-shutdown' }
          this.#state = 'closing'
          if (this.#upstream) this.#upstream.close()
          else if (this.#closeSent) this.#closeSocket(WS_GOING_AWAY)
          else this.#finish(this.#end, { kind: 'going-away' })
      }
    })
  }

  /**
   * Hand-off shutdown (`shutdownHandoff`): the upstream connection is dropped
   * without `</stream:stream>`, so the server keeps a XEP-0198 session, and
   * the WebSocket is closed with 1012 (service restart) and no `<close/>`:
   * the stream is not over, the client reconnects elsewhere and resumes.
   */
  handOff(): void {
    this.#run(() => {
      this.#shuttingDown = true
      switch (this.#state) {
        case 'closed':
        case 'closing':
          // Already ending (the client's <close/>, or a close under way): let that finish.
          return
        case 'awaiting-open':
        case 'opening':
        case 'open':
          this.#finish({ reason: 'handoff', condition: 'service-restart' }, { kind: 'ws-close', code: WS_SERVICE_RESTART, reason: 'service restart: reconnect' })
      }
    })
  }

  #onFrame(frame: ClientFrame): void {
    if (frame.kind === 'error') {
      this.#finish({ reason: 'bad-input', condition: frame.failure.condition, text: frame.failure.text }, { kind: 'stream-error', condition: frame.failure.condition, text: frame.failure.text }, 'close')
      return
    }
    if (this.#state === 'awaiting-open') {
      if (frame.kind !== 'open') {
        const text = '<open/> must come first (RFC 7395 §3.4)'
        this.#finish({ reason: 'bad-input', condition: 'bad-format', text }, { kind: 'stream-error', condition: 'bad-format', text })
        return
      }
      this.#openUpstream(frame)
      return
    }
    switch (frame.kind) {
      case 'open':
        // RFC 7395 §3.5: a new <open/> after SASL success restarts the stream. One sent again
        // before the first stream opened asks for what is already coming: nothing to do.
        if (this.#state === 'opening') return
        this.#openSent = false
        this.#upstream?.restart()
        return
      case 'close':
        // RFC 7395 §3.6: close our upstream stream, then answer with <close/>.
        this.#end ??= { reason: 'client-close' }
        this.#state = 'closing'
        this.#upstream?.close()
        return
      case 'element':
        this.#forward(frame.element)
    }
  }

  #openUpstream(frame: Extract<ClientFrame, { kind: 'open' }>): void {
    this.#openTimer?.cancel()
    this.#openTimer = undefined
    const seeOtherUri = this.#settings.seeOtherUri
    if (seeOtherUri !== undefined) {
      // RFC 7395 §3.6.1: the service lives elsewhere; no upstream is opened.
      this.#finish({ reason: 'see-other-uri', condition: 'see-other-uri' }, { kind: 'redirect', uri: seeOtherUri })
      return
    }
    const verdict = this.#connector.route(frame.to)
    if (!verdict.ok) {
      // RFC 6120 §4.9.1.2: the error travels in a stream, so one is opened first. No 'to' is
      // improper-addressing (RFC 6120 §4.9.3.7, as BOSH's XEP-0124 §17.2), a domain not served host-unknown (§4.9.3.6).
      const text = frame.to === undefined ? "the 'to' attribute is required" : 'this domain is not served here'
      this.#finish({ reason: 'unknown-domain', condition: verdict.condition, text, detail: verdict.reason }, { kind: 'stream-error', condition: verdict.condition, text })
      return
    }
    this.#domain = verdict.domain
    this.#state = 'opening'
    const upstream = this.#connector.connect(this)
    this.#upstream = upstream
    upstream.open({ to: verdict.domain, ...(frame.lang !== undefined ? { lang: frame.lang } : {}) })
  }

  #forward(element: XmlElement): void {
    const upstream = this.#upstream
    if (!upstream) return
    this.#observer.relayed('to_upstream', element, element.bytes.length)
    if (!upstream.send(element.bytes) && !this.#clientPaused) {
      // The server is slow: stop reading the client until it catches up.
      this.#clientPaused = true
      this.#peer.pauseReading()
    }
  }

  // ── the server (UpstreamSink) ─────────────────────────────────────────

  upstreamOpened(header: UpstreamHeader, features: Element): void {
    this.#run(() => {
      if (this.#state === 'closed') return
      if (this.#state === 'opening') this.#state = 'open'
      this.#openSent = true
      this.#send(openMessage({ ...header, from: header.from ?? this.#domain }))
      this.#send(clientMessage(features))
    })
  }

  upstreamStanza(stanza: XmlElement): void {
    this.#run(() => {
      if (this.#state === 'closed') return
      const message = standalone(stanza)
      this.#observer.relayed('to_client', stanza, message.length)
      this.#send(message)
    })
  }

  upstreamBatchEnd(): void {
    // Each stanza is its own WebSocket message; the adapter coalesces one turn's writes.
  }

  upstreamAuthenticated(): void {
    this.#run(() => {
      this.#authenticated = true
      this.#observer.authenticated()
    })
  }

  upstreamAuthFailed(condition: string): void {
    this.#run(() => this.#observer.authFailed?.(condition))
  }

  upstreamBound(jid: string): void {
    this.#run(() => this.#observer.bound?.(jid))
  }

  upstreamWritable(): void {
    this.#run(() => {
      if (!this.#clientPaused) return
      this.#clientPaused = false
      this.#peer.resumeReading()
    })
  }

  upstreamClosed(end: UpstreamEnd): void {
    this.#run(() => {
      this.#upstream = undefined
      if (this.#state === 'closed') return
      if (this.#state === 'closing' && this.#end) {
        // We were closing anyway (the client's <close/>, or shutdown): however the upstream went, finish that close.
        this.#finish(this.#end, this.#shuttingDown ? { kind: 'going-away' } : { kind: 'close' })
        return
      }
      switch (end.kind) {
        case 'closed':
          if (this.#shuttingDown) {
            this.#finish(this.#end ?? { reason: 'shutdown', condition: 'system-shutdown' }, { kind: 'going-away' })
            return
          }
          this.#finish(this.#end ?? { reason: 'upstream-closed' }, { kind: 'close' })
          return
        case 'stream-error':
          this.#finish({ reason: 'upstream-error', condition: end.condition }, { kind: 'forward-error', error: end.error })
          return
        case 'failed':
          this.#observer.upstreamFailed(end.cause, end.opened)
          this.#finish(
            { reason: 'upstream-failed', condition: 'remote-connection-failed', text: end.text, ...(end.detail !== undefined ? { detail: end.detail } : {}) },
            { kind: 'stream-error', condition: 'remote-connection-failed', text: end.text },
          )
          return
        case 'auth-timeout': {
          const text = 'authentication not completed in time'
          this.#finish({ reason: 'auth-timeout', condition: 'policy-violation', text }, { kind: 'stream-error', condition: 'policy-violation', text })
          return
        }
      }
    })
  }

  // ── the end ───────────────────────────────────────────────────────────

  /**
   * The one terminate path: the end is recorded (first decision wins), the
   * upstream is let go and the client hears the farewell. The session
   * reports its end once the socket has closed.
   *
   * `upstream`: `detach` keeps the server's session resumable (XEP-0198) for
   * a client that may come back (gone, silent, not reading); `close` ends it
   * politely for a client that broke the rules.
   */
  #finish(end: SessionEnd, farewell: Farewell, upstream: 'close' | 'detach' = 'detach'): void {
    if (this.#state === 'closed') return
    this.#end ??= end
    this.#cancelTimers(farewell.kind === 'close' || farewell.kind === 'redirect')
    if (upstream === 'close') this.#closeUpstream()
    switch (farewell.kind) {
      case 'stream-error': {
        this.#detachUpstream()
        this.#ensureOpenSent()
        const [error] = streamErrorMessages({ condition: farewell.condition, ...(farewell.text !== undefined ? { text: farewell.text } : {}) })
        this.#send(error)
        this.#sendClose()
        this.#closeSocket(WS_NORMAL)
        return
      }
      case 'forward-error':
        this.#ensureOpenSent()
        this.#send(clientMessage(farewell.error))
        this.#sendClose()
        this.#closeSocket(WS_NORMAL)
        return
      case 'redirect':
        this.#closeSent = true
        this.#send(seeOtherUriMessage(farewell.uri))
        this.#state = 'closing'
        this.#closeTimer = this.#timer(() => this.#closeSocket(WS_NORMAL), this.#settings.closeTimeoutMs)
        return
      case 'close':
        // RFC 7395 §3.6: answer or announce with <close/>; the client should now close the WebSocket.
        this.#sendClose()
        this.#state = 'closing'
        this.#closeTimer = this.#timer(() => this.#closeSocket(WS_NORMAL), this.#settings.closeTimeoutMs)
        return
      case 'going-away':
        this.#detachUpstream()
        this.#sendClose()
        this.#closeSocket(WS_GOING_AWAY)
        return
      case 'ws-close':
        this.#detachUpstream()
        this.#closeSocket(farewell.code, farewell.reason)
        return
      case 'cut':
        // A closing handshake would queue behind the data the client is not reading.
        this.#detachUpstream()
        this.#state = 'closed'
        this.#peer.terminate()
        return
      case 'silence':
        this.#detachUpstream()
        this.#state = 'closed'
        return
    }
  }

  #closeSocket(code: number, reason?: string): void {
    this.#closeTimer?.cancel()
    this.#closeTimer = undefined
    this.#state = 'closed'
    this.#peer.close(code, reason)
    // A client that never completes the closing handshake is cut off.
    this.#closeTimer = this.#timer(() => this.#peer.terminate(), this.#settings.closeTimeoutMs)
  }

  #report(): void {
    if (this.#reported) return
    this.#reported = true
    this.#cancelTimers(false)
    this.#closeTimer?.cancel()
    this.#closeTimer = undefined
    this.#observer.ended(this.#end ?? { reason: 'client-gone' })
  }

  #cancelTimers(keepPing: boolean): void {
    for (const timer of [this.#openTimer, this.#drainTimer]) timer?.cancel()
    this.#openTimer = this.#drainTimer = undefined
    if (!keepPing) {
      this.#pingTimer?.cancel()
      this.#pingTimer = undefined
    }
  }

  #detachUpstream(): void {
    const upstream = this.#upstream
    this.#upstream = undefined
    upstream?.detach()
  }

  /** End the server's session politely without waiting for it: the sink will hear of it after the session is over. */
  #closeUpstream(): void {
    const upstream = this.#upstream
    this.#upstream = undefined
    upstream?.close()
  }

  /** RFC 7395 §3.6: `<close/>`, once. */
  #sendClose(): void {
    if (this.#closeSent) return
    this.#closeSent = true
    this.#send(CLOSE_MESSAGE)
  }

  #ensureOpenSent(): void {
    if (this.#openSent) return
    this.#openSent = true
    this.#send(openMessage({ ...(this.#domain !== undefined ? { from: this.#domain } : {}), version: '1.0' }))
  }

  #send(message: Uint8Array | string): void {
    this.#peer.send(message)
    if (this.#upstreamPaused || this.#peer.bufferedBytes <= this.#settings.highWaterBytes) return
    // The client is slow: stop reading the server, and give the client a deadline.
    this.#upstreamPaused = true
    this.#upstream?.pause()
    this.#drainTimer = this.#timer(() => {
      this.#drainTimer = undefined
      this.#finish({ reason: 'client-not-reading', condition: 'resource-constraint', text: 'client did not read its data in time' }, { kind: 'cut' })
    }, this.#settings.drainTimeoutMs)
  }

  /** RFC 6455 §5.5.2: a peer that answers no ping within an interval is gone. */
  #keepalive(): void {
    if (this.#state === 'closed') return
    if (!this.#alive) {
      this.#finish({ reason: 'no-pong', condition: 'connection-timeout', text: 'no pong' }, { kind: 'cut' })
      return
    }
    this.#alive = false
    this.#peer.ping()
    this.#pingTimer?.refresh()
  }

  #timer(callback: () => void, delayMs: number): Timer {
    return this.#clock.setTimeout(() => this.#run(callback), delayMs)
  }

  /** Run one input to completion; inputs that arrive meanwhile (a port reporting synchronously) wait their turn. */
  #run(task: () => void): void {
    if (this.#busy) {
      this.#inbox.push(task)
      return
    }
    this.#busy = true
    try {
      task()
      for (let next = this.#inbox.shift(); next; next = this.#inbox.shift()) next()
    } finally {
      this.#busy = false
    }
  }
}
