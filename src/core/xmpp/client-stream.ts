/**
 * The client side of one RFC 6120 stream to the XMPP server, on behalf of
 * one client session (either transport). Pure: bytes and link events in,
 * bytes and link commands out, time from the injected Clock.
 *
 *   idle ─open─▶ connecting ─link up─▶ awaiting-header ─header─▶ awaiting-features
 *      awaiting-features ─<starttls/> offered or required─▶ starttls ─<proceed/>─▶ securing ─TLS─▶ awaiting-header
 *      awaiting-features ─features─▶ open ─restart─▶ awaiting-header
 *      any ─close─▶ closing ─</stream:stream> or deadline─▶ closed;  any ─failure─▶ closed
 *
 * Causeway negotiates TLS itself: the client never sees `<starttls/>` nor
 * a `-PLUS` SASL mechanism (stream-features.ts), and no byte of the client's
 * reaches the server before the first features of the (secured) stream.
 */
import type { Element } from 'ltx'
import type { Clock, Timer } from '../clock.js'
import { NS, streamErrorCondition } from '../conditions.js'
import type { StreamFailure } from '../conditions.js'
import { rootElement, toElement } from '../xml/element.js'
import type { XmlLimits } from '../xml/limits.js'
import { XmlTokenizer } from '../xml/tokenizer.js'
import type { XmlElement } from '../xml/tokenizer.js'
import { boundJid, sasl2BoundJid, saslFailureCondition } from './auth-events.js'
import { clientVisibleFeatures, starttlsOffer } from './stream-features.js'
import { STREAM_CLOSE, checkStreamHeader, streamErrorXml, streamHeader, streamInfo } from './stream-header.js'
import type { UpstreamEnd, UpstreamFailureCause, UpstreamHeader, UpstreamOpenRequest, UpstreamPort, UpstreamSink } from './upstream-port.js'

/** The socket side, implemented in src/upstream; it reports through the ClientStream's `link…` methods. */
export interface ClientStreamLink {
  /** Reach the server (DNS/SRV, TCP, PROXY preamble, direct TLS): then `linkUp` or `linkFailed`. */
  connect(): void
  /** Queue bytes for the server (the link coalesces what one turn writes). */
  write(data: Uint8Array | string): void
  /** Bytes written but not yet handed to the kernel. */
  readonly queuedBytes: number
  /** RFC 6120 §5.4.3.3: TLS over the same connection after `<proceed/>`: then `linkSecured` or `linkFailed`. */
  startTls(): void
  pause(): void
  resume(): void
  /** Finish the connection once written data is flushed (after our `</stream:stream>`). */
  end(): void
  /** Drop the connection now; the link reports nothing more. */
  destroy(): void
}

export interface LinkInfo {
  /** Direct TLS (XEP-0368). */
  readonly encrypted: boolean
  /** The server is on this host: the link never crosses a network. */
  readonly loopback: boolean
  /** The route says TLS or nothing (`starttls://`): no client byte may travel in clear. */
  readonly tlsRequired: boolean
}

export interface ClientStreamSettings {
  readonly limits: XmlLimits
  /** Until the first stream features, everything included (DNS, TCP, TLS, header). */
  readonly connectTimeoutMs: number
  /** Above this many unsent bytes, `send` returns false. */
  readonly highWaterBytes: number
  /** How long the server may leave data unread before the stream is failed. */
  readonly drainTimeoutMs: number
  /** How long to wait for the server's `</stream:stream>` after ours. */
  readonly closeTimeoutMs: number
  /** How long after `open` the client has to authenticate. */
  readonly preAuthTimeoutMs: number
}

/** After our FIN, how long a server that does not close its side keeps the socket. */
export const LINGER_AFTER_END_MS = 1000

/** RFC 6120 SASL and XEP-0388 SASL2: their `<success/>` ends the pre-authentication period. */
const SASL_SUCCESS_NAMESPACES: ReadonlySet<string> = new Set([NS.sasl, NS.sasl2])

type State = 'idle' | 'connecting' | 'awaiting-header' | 'awaiting-features' | 'starttls' | 'securing' | 'open' | 'closing' | 'closed'

export class ClientStream implements UpstreamPort {
  #state: State = 'idle'
  #link: ClientStreamLink | undefined
  readonly #tokenizer: XmlTokenizer
  /** Inside `#tokenizer.write`: a stream restart must wait until it returns. */
  #reading = false
  /** The tokenizer must start over once the current read is done (a restart, STARTTLS). */
  #resetOwed = false
  #request: UpstreamOpenRequest | undefined
  /** The server's stream header (attributes only): its declarations give stanzas their namespaces. */
  #header: Element | undefined
  #encrypted = false
  #loopback = false
  #tlsRequired = false
  #everOpened = false
  /** The current stream's features have arrived: its elements are the client's to see. */
  #streamOpen = false
  #authenticated = false
  /** The server bound the client's resource: nothing more to learn about the login. */
  #bound = false
  /** Client data that arrived before the first stream was open. */
  #early: Uint8Array[] = []
  #earlyBytes = 0
  /** `send` returned false while queueing early data. */
  #earlyBlocked = false
  #paused = false
  #connectTimer: Timer | undefined
  #preAuthTimer: Timer | undefined
  #drainTimer: Timer | undefined
  #closeTimer: Timer | undefined

  constructor(
    private readonly settings: ClientStreamSettings,
    private readonly clock: Clock,
    private readonly sink: UpstreamSink,
    /** Builds the link to the server `request.to` is routed to; it reports back through the `link…` methods. */
    private readonly makeLink: (stream: ClientStream, request: UpstreamOpenRequest) => ClientStreamLink,
  ) {
    this.#tokenizer = new XmlTokenizer('stream', settings.limits, {
      rootStart: (root) => this.#heard() && this.#onHeader(root),
      element: (element) => this.#heard() && this.#onElement(element),
      rootEnd: () => this.#heard() && this.#onStreamEnd(),
      error: (failure) => this.#heard() && this.#onXmlError(failure),
    })
  }

  get state(): State {
    return this.#state
  }

  get bufferedBytes(): number {
    return (this.#link?.queuedBytes ?? 0) + this.#earlyBytes
  }

  // ── UpstreamPort ──────────────────────────────────────────────────────

  open(request: UpstreamOpenRequest): void {
    if (this.#state !== 'idle') return
    this.#request = request
    this.#state = 'connecting'
    this.#connectTimer = this.clock.setTimeout(() => this.#fail('timeout', 'the XMPP server did not answer in time'), this.settings.connectTimeoutMs)
    this.#preAuthTimer = this.clock.setTimeout(() => this.#authTimedOut(), this.settings.preAuthTimeoutMs)
    this.#link = this.makeLink(this, request)
    if (this.#paused) this.#link.pause()
    this.#link.connect()
  }

  send(bytes: Uint8Array): boolean {
    switch (this.#state) {
      case 'closing':
      case 'closed':
        return true
      case 'open':
      case 'awaiting-header':
      case 'awaiting-features':
        if (this.#everOpened) {
          this.#link?.write(bytes)
          return this.#checkPressure()
        }
        break
      case 'idle':
      case 'connecting':
      case 'starttls':
      case 'securing':
        break
    }
    // Nothing of the client's may reach the server before our negotiation is done.
    this.#early.push(bytes)
    this.#earlyBytes += bytes.length
    if (this.#earlyBytes <= this.settings.highWaterBytes) return true
    this.#earlyBlocked = true
    return false
  }

  restart(): void {
    switch (this.#state) {
      case 'open':
      case 'awaiting-header':
      case 'awaiting-features':
        this.#sendHeader()
        return
      default:
        return
    }
  }

  pause(): void {
    this.#paused = true
    this.#link?.pause()
  }

  resume(): void {
    this.#paused = false
    this.#link?.resume()
  }

  close(): void {
    switch (this.#state) {
      case 'closing':
      case 'closed':
        return
      case 'idle':
      case 'connecting':
      case 'starttls':
      case 'securing':
        // No stream of the client's exists yet: nothing to end politely.
        this.#finish({ kind: 'closed' }, 'drop')
        return
      case 'awaiting-header':
      case 'awaiting-features':
      case 'open':
        // RFC 6120 §4.4: send our close tag, then wait for the server's. Only the close deadline runs now.
        this.#state = 'closing'
        for (const timer of [this.#connectTimer, this.#preAuthTimer]) timer?.cancel()
        this.#connectTimer = this.#preAuthTimer = undefined
        this.#link?.write(STREAM_CLOSE)
        this.#closeTimer = this.clock.setTimeout(() => this.#finish({ kind: 'closed' }, 'end'), this.settings.closeTimeoutMs)
    }
  }

  detach(): void {
    this.#finish(undefined, 'drop')
  }

  // ── link events ───────────────────────────────────────────────────────

  linkUp(info: LinkInfo): void {
    if (this.#state !== 'connecting') return
    this.#encrypted = info.encrypted
    this.#loopback = info.loopback
    this.#tlsRequired = info.tlsRequired
    this.#sendHeader()
  }

  linkSecured(): void {
    if (this.#state !== 'securing') return
    this.#encrypted = true
    this.#sendHeader()
  }

  linkFailed(cause: UpstreamFailureCause, text: string, detail?: string): void {
    this.#fail(cause, text, detail)
  }

  linkData(chunk: Uint8Array): void {
    if (this.#state === 'closed') return
    this.#reading = true
    try {
      this.#tokenizer.write(chunk)
    } finally {
      this.#reading = false
    }
    if (this.#resetOwed) {
      this.#resetOwed = false
      this.#tokenizer.reset()
    }
    // Everything this read completed has been handed over: a session may now answer with all of it at once.
    if (this.#heard()) this.sink.upstreamBatchEnd()
  }

  /** After <proceed/> the bytes are TLS, after a restart they belong to the next stream, after the end nothing counts. */
  #heard(): boolean {
    return this.#state !== 'closed' && this.#state !== 'securing' && !this.#resetOwed
  }

  linkDrained(): void {
    this.#earlyBlocked = false
    if (!this.#drainTimer) return
    this.#drainTimer.cancel()
    this.#drainTimer = undefined
    this.sink.upstreamWritable()
  }

  /** The connection closed; `detail` is the socket error that closed it, if any. */
  linkClosed(detail?: string): void {
    if (this.#state === 'closed') return
    if (this.#state === 'closing') {
      this.#finish({ kind: 'closed' }, 'drop')
      return
    }
    this.#fail(this.#everOpened ? 'lost' : 'network', 'the XMPP server closed the connection', detail)
  }

  // ── the server's stream ───────────────────────────────────────────────

  #onXmlError(failure: StreamFailure): void {
    if (this.#state === 'closing') {
      // Our close tag is out: nothing may follow it (RFC 6120 §4.4), and the stream is over anyway.
      this.#finish({ kind: 'closed' }, 'drop')
      return
    }
    // The server broke the rules we hold clients to: tell it, and fail this session only.
    this.#link?.write(streamErrorXml(failure.condition, failure.text) + STREAM_CLOSE)
    this.#fail('protocol', 'the XMPP server sent bad XML', `upstream XML: ${failure.condition}`, 'end')
  }

  #onStreamEnd(): void {
    if (this.#state === 'closing') {
      this.#finish({ kind: 'closed' }, 'end')
      return
    }
    // RFC 6120 §4.4: the server closed its stream; close ours.
    this.#link?.write(STREAM_CLOSE)
    if (!this.#everOpened) {
      // A server that hangs up before it ever offered features did not serve this client.
      this.#fail('protocol', 'the XMPP server closed the stream before it opened', 'stream closed before the first features', 'end')
      return
    }
    this.#finish({ kind: 'closed' }, 'end')
  }

  #onHeader(headerXml: XmlElement): void {
    // Closing: the server may still owe us the header of the stream we are leaving.
    if (this.#state === 'closing') return
    if (this.#state !== 'awaiting-header') {
      this.#fail('protocol', 'the XMPP server sent an unexpected stream header')
      return
    }
    const header = rootElement(headerXml)
    const verdict = checkStreamHeader(header)
    if (verdict !== 'ok') {
      this.#link?.write(streamErrorXml(verdict) + STREAM_CLOSE)
      this.#fail('protocol', 'the XMPP server sent a bad stream header', `upstream stream header: ${verdict}`, 'end')
      return
    }
    this.#header = header
    this.#state = 'awaiting-features'
  }

  /**
   * One child of the server's stream. Stanzas go on as the bytes they are;
   * only what this stream must understand (features, stream errors, the
   * STARTTLS answer) is made into a tree.
   */
  #onElement(element: XmlElement): void {
    const local = element.localName
    // The relay path: once authenticated, only a stream error needs its namespace read
    // (and, until the resource is bound, an iq: it may be the bind result, see #watchLogin).
    if (this.#state === 'open' && this.#authenticated && local !== 'error' && (this.#bound || local !== 'iq')) {
      this.sink.upstreamStanza(element)
      return
    }
    const ns = element.namespace(this.#header?.attrs)
    if (local === 'error' && ns === NS.stream) {
      const error = toElement(element, this.#header)
      // RFC 6120 §4.9.1.1: the stream is over; end ours too.
      if (this.#state !== 'closing') this.#link?.write(STREAM_CLOSE)
      this.#finish({ kind: 'stream-error', error, condition: streamErrorCondition(error) }, 'end')
      return
    }
    switch (this.#state) {
      case 'awaiting-features':
        if (local !== 'features' || ns !== NS.stream) {
          this.#fail('protocol', 'the XMPP server did not send stream features', `expected stream features, got <${element.name}>`)
          return
        }
        this.#onFeatures(toElement(element, this.#header))
        return
      case 'starttls':
        this.#onStartTlsAnswer(local === 'proceed' && ns === NS.tls)
        return
      case 'closing':
        // Only a stream the client was shown may still speak to it (not features of one we are leaving).
        if (this.#streamOpen) this.sink.upstreamStanza(element)
        return
      case 'open':
        if (!this.#bound) this.#watchLogin(element, local, ns)
        this.sink.upstreamStanza(element)
        return
      default:
        this.#fail('protocol', 'the XMPP server sent an unexpected element', `unexpected <${element.name}> from upstream`)
    }
  }

  #onFeatures(features: Element): void {
    const offer = starttlsOffer(features)
    if (!this.#encrypted && (offer.offered || this.#tlsRequired)) {
      if (!offer.offered) {
        this.#fail('tls', 'upstream does not offer STARTTLS')
        return
      }
      // RFC 6120 §5.4.2: when offered, we always take it; the client never sees <starttls/>.
      this.#state = 'starttls'
      this.#link?.write(`<starttls xmlns='${NS.tls}'/>`)
      return
    }
    const header = this.#header
    if (!header) return
    this.#state = 'open'
    this.#streamOpen = true
    const firstOpen = !this.#everOpened
    this.#everOpened = true
    if (firstOpen) {
      this.#connectTimer?.cancel()
      this.#connectTimer = undefined
    }
    const info = streamInfo(header)
    const opened: UpstreamHeader = { from: info.from, id: info.id, version: info.version, lang: info.lang, secure: this.#encrypted || this.#loopback }
    this.sink.upstreamOpened(opened, clientVisibleFeatures(features))
    if (firstOpen && this.#state === 'open') this.#flushEarly()
  }

  #onStartTlsAnswer(proceed: boolean): void {
    if (!proceed) {
      this.#fail('tls', 'TLS with upstream failed', 'the XMPP server refused STARTTLS')
      return
    }
    this.#state = 'securing'
    this.#restartReader()
    this.#link?.startTls()
  }

  /**
   * Until the resource is bound: SASL success or failure, then the bound JID
   * (auth-events.ts). Names and attributes are read from the bytes; only the
   * few elements that say something (a failure, a SASL2 success, an iq
   * result) are made into trees.
   */
  #watchLogin(element: XmlElement, local: string, ns: string | undefined): void {
    if (!this.#authenticated) {
      if (ns === undefined || !SASL_SUCCESS_NAMESPACES.has(ns)) return
      if (local === 'success') {
        this.#onAuthenticated()
        const jid = ns === NS.sasl2 ? sasl2BoundJid(toElement(element, this.#header)) : undefined
        if (jid !== undefined) this.#onBound(jid)
        return
      }
      if (local === 'failure') this.sink.upstreamAuthFailed?.(saslFailureCondition(toElement(element, this.#header)) ?? 'not-authorized')
      return
    }
    if (local !== 'iq' || element.attr('type') !== 'result') return
    const jid = boundJid(toElement(element, this.#header))
    if (jid !== undefined) this.#onBound(jid)
  }

  /** RFC 6120 §6.4.6: SASL success (or XEP-0388 SASL2 success, which has no restart) ends the pre-authentication period. */
  #onAuthenticated(): void {
    this.#authenticated = true
    this.#preAuthTimer?.cancel()
    this.#preAuthTimer = undefined
    this.sink.upstreamAuthenticated()
  }

  #onBound(jid: string): void {
    this.#bound = true
    this.sink.upstreamBound?.(jid)
  }

  // ── our side ──────────────────────────────────────────────────────────

  /** RFC 6120 §4.2, §4.3.3: a (new) stream header, and a fresh parser for the server's answer. */
  #sendHeader(): void {
    const request = this.#request
    if (!request) return
    this.#restartReader()
    this.#header = undefined
    this.#streamOpen = false
    this.#state = 'awaiting-header'
    this.#link?.write(streamHeader(request))
  }

  /** A new stream (or TLS) starts: the tokenizer starts over, once the read it may be inside has returned. */
  #restartReader(): void {
    if (this.#reading) this.#resetOwed = true
    else this.#tokenizer.reset()
  }

  #flushEarly(): void {
    const early = this.#early
    this.#early = []
    this.#earlyBytes = 0
    for (const bytes of early) this.#link?.write(bytes)
    // The session stopped its client when the early queue filled: let it go
    // on now, or when the link drains (linkDrained does that).
    if (this.#checkPressure() && this.#earlyBlocked) {
      this.#earlyBlocked = false
      this.sink.upstreamWritable()
    }
  }

  #checkPressure(): boolean {
    const link = this.#link
    if (!link || link.queuedBytes <= this.settings.highWaterBytes) return true
    this.#drainTimer ??= this.clock.setTimeout(() => this.#fail('not-reading', 'upstream stopped reading'), this.settings.drainTimeoutMs)
    return false
  }

  #authTimedOut(): void {
    this.#preAuthTimer = undefined
    if (this.#state === 'closed') return
    const polite = this.#state === 'open' || this.#state === 'awaiting-header' || this.#state === 'awaiting-features'
    if (polite) this.#link?.write(STREAM_CLOSE)
    this.#finish({ kind: 'auth-timeout' }, polite ? 'end' : 'drop')
  }

  /** `link: 'end'` when a stream error for the server is on its way and must not be cut off. */
  #fail(cause: UpstreamFailureCause, text: string, detail?: string, link: 'end' | 'drop' = 'drop'): void {
    if (this.#state === 'closed') return
    this.#finish({ kind: 'failed', cause, opened: this.#everOpened, text, ...(detail !== undefined ? { detail } : {}) }, link)
  }

  /**
   * The one way out: timers stopped, the link ended politely (`end`: our
   * close tag is on its way) or dropped, and the sink told once unless the
   * session detached.
   */
  #finish(end: UpstreamEnd | undefined, link: 'end' | 'drop'): void {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    for (const timer of [this.#connectTimer, this.#preAuthTimer, this.#drainTimer, this.#closeTimer]) timer?.cancel()
    this.#connectTimer = this.#preAuthTimer = this.#drainTimer = this.#closeTimer = undefined
    this.#early = []
    this.#earlyBytes = 0
    const current = this.#link
    if (current) {
      if (link === 'end') {
        current.end()
        this.clock.setTimeout(() => current.destroy(), LINGER_AFTER_END_MS)
      } else {
        current.destroy()
      }
    }
    if (end) this.sink.upstreamClosed(end)
  }
}
