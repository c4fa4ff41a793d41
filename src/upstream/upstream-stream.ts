/**
 * One RFC 6120 client-to-server stream to the upstream XMPP server, on
 * behalf of one client session (either transport).
 *
 * It connects, sends the stream header, negotiates STARTTLS itself (the
 * client never sees `<starttls/>`), and then relays: elements in through
 * `send`, elements out through the handler. Reading and writing both have
 * bounds: the transport pauses us when its client is slow, and we tell the
 * transport when the server is slow.
 */
import type net from 'node:net'
import type { Element } from 'ltx'
import type { StreamFailure } from '../core/conditions.js'
import { NS, streamFailure } from '../core/conditions.js'
import { XmlStreamReader } from '../core/xml/stream-reader.js'
import type { ReaderEvent, XmlLimits } from '../core/xml/stream-reader.js'
import { clientVisibleFeatures, starttlsOffer } from '../core/xmpp/stream-features.js'
import { STREAM_CLOSE, checkStreamHeader, streamErrorXml, streamHeader, streamInfo } from '../core/xmpp/stream-header.js'
import type { StreamInfo, StreamOpenRequest } from '../core/xmpp/stream-header.js'
import type { Logger } from '../observability/logger.js'
import { ConnectError, connectFirst, endpointsFor, startTls } from './connect.js'
import type { SrvResolver, TlsSettings } from './connect.js'
import type { UpstreamTarget } from './routing.js'

export type UpstreamCloseReason =
  /** The stream ended cleanly (`</stream:stream>` exchanged or we closed it). */
  | { readonly kind: 'ended' }
  /** The server sent `<stream:error>`; the element is forwarded as is. */
  | { readonly kind: 'stream-error'; readonly error: Element }
  /** Connect, TLS, protocol or I/O failure; `connect` says it never opened. */
  | { readonly kind: 'failed'; readonly failure: StreamFailure; readonly connect: boolean; readonly reason: string }

export interface UpstreamHandler {
  /** The stream (re)opened: header attributes and client-visible features. */
  opened(info: StreamInfo, features: Element): void
  /** A top-level element other than features and stream errors. */
  element(element: Element): void
  /** Exactly once, at the end, unless the owner ended it with destroy(). */
  closed(reason: UpstreamCloseReason): void
  /** The server took the data it was slow to take; the client may send again. */
  writable(): void
}

export interface UpstreamSettings {
  readonly target: UpstreamTarget
  readonly tls: TlsSettings
  readonly connectTimeoutMs: number
  readonly limits: XmlLimits
  /** Above this many unsent bytes, `send` returns false. */
  readonly highWaterBytes: number
  /** How long the server may leave data unread before the stream is failed. */
  readonly drainTimeoutMs: number
  /** How long to wait for the server's `</stream:stream>` after ours. */
  readonly closeTimeoutMs: number
  readonly resolveSrv?: SrvResolver
  /** Written first on the TCP connection (PROXY protocol), when set. */
  readonly preamble?: Uint8Array
}

/** What a client is told about a failed connect, by ConnectError reason. */
const CONNECT_FAILURE_TEXT: Record<string, string> = {
  refused: 'the XMPP server refused the connection',
  timeout: 'the XMPP server did not answer in time',
  tls: 'TLS with upstream failed',
  dns: 'the XMPP server could not be located',
  network: 'could not reach the XMPP server',
}

type State = 'idle' | 'connecting' | 'awaiting-header' | 'awaiting-features' | 'starttls' | 'open' | 'closing' | 'closed'

export class UpstreamStream {
  #state: State = 'idle'
  #socket: net.Socket | undefined
  #reader: XmlStreamReader
  #header: Element | undefined
  #secure = false
  #everOpened = false
  /** Client data that arrived before the first stream was open. */
  #early: string[] = []
  #earlyBytes = 0
  /** `send` returned false while queueing early data. */
  #earlyBlocked = false
  #connectTimer: NodeJS.Timeout | undefined
  #drainTimer: NodeJS.Timeout | undefined
  #closeTimer: NodeJS.Timeout | undefined
  #paused = false

  constructor(
    private readonly request: StreamOpenRequest,
    private readonly settings: UpstreamSettings,
    private readonly handler: UpstreamHandler,
    private readonly log: Logger,
  ) {
    this.#reader = new XmlStreamReader('stream', settings.limits)
  }

  get state(): State {
    return this.#state
  }

  /** Whether the link to the server is encrypted (direct TLS or after STARTTLS). */
  get secure(): boolean {
    return this.#secure
  }

  /** Bytes accepted by `send` but not yet handed to the kernel. */
  get bufferedBytes(): number {
    return (this.#socket?.writableLength ?? 0) + this.#earlyBytes
  }

  start(): void {
    if (this.#state !== 'idle') return
    this.#state = 'connecting'
    this.#connectTimer = setTimeout(() => {
      this.#fail(streamFailure('remote-connection-failed', 'upstream did not open a stream in time'), 'timeout')
    }, this.settings.connectTimeoutMs)
    this.#connectTimer.unref()
    void this.#connect()
  }

  async #connect(): Promise<void> {
    try {
      const endpoints = await endpointsFor(this.settings.target, this.request.to, this.settings.resolveSrv)
      const { socket, endpoint } = await connectFirst(endpoints, this.request.to, this.settings.tls, this.settings.connectTimeoutMs, this.settings.preamble)
      if (this.#state !== 'connecting') {
        socket.destroy()
        return
      }
      this.log.debug({ upstream: `${endpoint.host}:${endpoint.port}`, tls: endpoint.directTls }, 'upstream connected')
      this.#secure = endpoint.directTls
      this.#attach(socket)
      this.#sendHeader()
    } catch (error) {
      const connectError = error instanceof ConnectError ? error : new ConnectError(String(error), 'error')
      // The detail (addresses, errno) is for the operator's log, not for the client.
      this.log.info({ detail: connectError.message }, 'upstream connect failed')
      this.#fail(streamFailure('remote-connection-failed', CONNECT_FAILURE_TEXT[connectError.reason] ?? 'could not reach the XMPP server'), connectError.reason)
    }
  }

  #attach(socket: net.Socket): void {
    this.#socket = socket
    socket.setNoDelay(true)
    socket.on('data', this.#onData)
    socket.on('drain', this.#onDrain)
    socket.on('error', this.#onError)
    socket.on('close', this.#onSocketClose)
    if (this.#paused) socket.pause()
  }

  #detach(socket: net.Socket): void {
    socket.off('data', this.#onData)
    socket.off('drain', this.#onDrain)
    socket.off('error', this.#onError)
    socket.off('close', this.#onSocketClose)
  }

  #sendHeader(): void {
    this.#reader.reset()
    this.#header = undefined
    this.#state = 'awaiting-header'
    this.#write(streamHeader(this.request))
  }

  /**
   * RFC 6120 §6.4.6 / XEP-0206 §5 / RFC 7395 §3.5: after SASL success the
   * client restarts the stream; upstream that is a new header on the same
   * connection, and a fresh parser on our side.
   */
  restart(): void {
    if (this.#state !== 'open' && this.#state !== 'awaiting-features' && this.#state !== 'awaiting-header') return
    this.#sendHeader()
  }

  /**
   * Send one serialised element. Returns false when the server is not
   * keeping up; the caller stops reading its client until `writable()`.
   */
  send(xml: string): boolean {
    switch (this.#state) {
      case 'closing':
      case 'closed':
        return true
      case 'open':
      case 'awaiting-header':
      case 'awaiting-features':
        if (this.#everOpened) {
          this.#write(xml)
          return this.#checkPressure()
        }
      // falls through: nothing may reach the server before our negotiation is done
      default:
        this.#early.push(xml)
        this.#earlyBytes += Buffer.byteLength(xml)
        if (this.#earlyBytes <= this.settings.highWaterBytes) return true
        this.#earlyBlocked = true
        return false
    }
  }

  /** Stop reading from the server (the client cannot take more). */
  pause(): void {
    this.#paused = true
    this.#socket?.pause()
  }

  resume(): void {
    this.#paused = false
    this.#socket?.resume()
  }

  /** Close our stream politely; the handler hears `closed` when it is over. */
  close(): void {
    switch (this.#state) {
      case 'closing':
      case 'closed':
        return
      case 'idle':
      case 'connecting':
      case 'starttls':
        this.#finish({ kind: 'ended' })
        return
      default:
        this.#state = 'closing'
        this.#write(STREAM_CLOSE)
        this.#closeTimer = setTimeout(() => this.#finish({ kind: 'ended' }), this.settings.closeTimeoutMs)
        this.#closeTimer.unref()
    }
  }

  /**
   * Drop the connection without ending the XML stream (a client that may
   * resume, XEP-0198, or a session that already knows why it ends). The
   * owner asked for it, so the handler is not told.
   */
  destroy(): void {
    this.#finish({ kind: 'ended' }, false)
  }

  #write(data: string): void {
    const socket = this.#socket
    if (!socket || socket.destroyed) return
    socket.write(data)
  }

  #checkPressure(): boolean {
    const socket = this.#socket
    if (!socket || socket.writableLength <= this.settings.highWaterBytes) return true
    if (!this.#drainTimer) {
      this.#drainTimer = setTimeout(() => {
        this.#fail(streamFailure('remote-connection-failed', 'upstream stopped reading'), 'drain-timeout')
      }, this.settings.drainTimeoutMs)
      this.#drainTimer.unref()
    }
    return false
  }

  #onDrain = (): void => {
    this.#earlyBlocked = false
    if (this.#drainTimer) {
      clearTimeout(this.#drainTimer)
      this.#drainTimer = undefined
      this.handler.writable()
    }
  }

  #onError = (error: NodeJS.ErrnoException): void => {
    this.log.debug({ err: error.code ?? error.message }, 'upstream socket error')
    this.#fail(streamFailure('remote-connection-failed', `upstream connection error: ${error.code ?? 'I/O error'}`), 'network')
  }

  #onSocketClose = (): void => {
    if (this.#state === 'closing') {
      this.#finish({ kind: 'ended' })
      return
    }
    this.#fail(streamFailure('remote-connection-failed', 'upstream closed the connection'), this.#everOpened ? 'disconnect' : 'network')
  }

  #onData = (chunk: Buffer): void => {
    for (const event of this.#reader.write(chunk)) {
      this.#onEvent(event)
      if (this.#state === 'closed' || this.#state === 'starttls') return
    }
  }

  #onEvent(event: ReaderEvent): void {
    switch (event.type) {
      case 'error':
        // The server broke the rules we hold clients to: tell it, and fail this session only.
        this.#write(streamErrorXml(event.failure.condition, event.failure.text) + STREAM_CLOSE)
        this.#fail(streamFailure('remote-connection-failed', `upstream sent bad XML (${event.failure.condition})`), 'protocol')
        return
      case 'stream-end':
        if (this.#state === 'closing') this.#finish({ kind: 'ended' })
        else {
          this.#write(STREAM_CLOSE)
          this.#finish({ kind: 'ended' })
        }
        return
      case 'stream-start':
        return this.#onHeader(event.element)
      case 'element':
        return this.#onElement(event.element)
    }
  }

  #onHeader(header: Element): void {
    if (this.#state !== 'awaiting-header') {
      this.#fail(streamFailure('remote-connection-failed', 'unexpected stream header from upstream'), 'protocol')
      return
    }
    const verdict = checkStreamHeader(header)
    if (verdict !== 'ok') {
      this.#write(streamErrorXml(verdict) + STREAM_CLOSE)
      this.#fail(streamFailure('remote-connection-failed', `upstream stream header: ${verdict}`), 'protocol')
      return
    }
    this.#header = header
    this.#state = 'awaiting-features'
  }

  #onElement(element: Element): void {
    if (element.is('error', NS.stream)) {
      this.log.debug({ condition: element.getChildElements()[0]?.getName() }, 'upstream stream error')
      this.#finish({ kind: 'stream-error', error: element })
      return
    }
    switch (this.#state) {
      case 'awaiting-features':
        if (!element.is('features', NS.stream)) {
          this.#fail(streamFailure('remote-connection-failed', `expected stream features, got <${element.name}>`), 'protocol')
          return
        }
        this.#onFeatures(element)
        return
      case 'starttls':
        this.#onStartTlsAnswer(element)
        return
      case 'open':
      case 'closing':
        this.handler.element(element)
        return
      default:
        this.#fail(streamFailure('remote-connection-failed', `unexpected <${element.name}> from upstream`), 'protocol')
    }
  }

  #onFeatures(features: Element): void {
    const offer = starttlsOffer(features)
    const wantTls = !this.#secure && (offer.offered || this.settings.target.kind === 'starttls')
    if (wantTls) {
      if (!offer.offered) {
        // starttls:// means TLS or nothing: no client byte may travel in clear.
        this.#fail(streamFailure('remote-connection-failed', 'upstream does not offer STARTTLS'), 'tls')
        return
      }
      this.#state = 'starttls'
      this.#write(`<starttls xmlns='${NS.tls}'/>`)
      return
    }
    if (offer.required && !this.#secure) {
      this.#fail(streamFailure('remote-connection-failed', 'upstream requires TLS'), 'tls')
      return
    }
    const header = this.#header
    if (!header) return
    this.#state = 'open'
    const firstOpen = !this.#everOpened
    this.#everOpened = true
    if (firstOpen && this.#connectTimer) {
      clearTimeout(this.#connectTimer)
      this.#connectTimer = undefined
    }
    this.handler.opened(streamInfo(header), clientVisibleFeatures(features))
    if (firstOpen) this.#flushEarly()
  }

  #flushEarly(): void {
    const early = this.#early
    this.#early = []
    this.#earlyBytes = 0
    for (const xml of early) this.#write(xml)
    // The caller stopped its client when the early queue filled: let it go on
    // now, or when the socket drains (the drain handler does that).
    if (this.#checkPressure() && this.#earlyBlocked) {
      this.#earlyBlocked = false
      this.handler.writable()
    }
  }

  #onStartTlsAnswer(answer: Element): void {
    if (!answer.is('proceed', NS.tls)) {
      this.#fail(streamFailure('remote-connection-failed', 'upstream refused STARTTLS'), 'tls')
      return
    }
    const plain = this.#socket
    if (!plain) return
    this.#detach(plain)
    this.#socket = undefined
    startTls(plain, this.request.to, this.settings.tls, this.settings.connectTimeoutMs).then(
      (secure) => {
        if (this.#state !== 'starttls') {
          secure.destroy()
          return
        }
        this.log.debug({ protocol: secure.getProtocol() }, 'upstream TLS established')
        this.#secure = true
        this.#attach(secure)
        this.#sendHeader()
      },
      (error: unknown) => {
        plain.destroy()
        this.log.info({ detail: error instanceof Error ? error.message : String(error) }, 'upstream TLS failed')
        // The verification error code helps the operator and reveals nothing about the network.
        const code = error instanceof ConnectError ? /: (\S+)$/.exec(error.message)?.[1] : undefined
        this.#fail(streamFailure('remote-connection-failed', code ? `TLS with upstream failed: ${code}` : 'TLS with upstream failed'), 'tls')
      },
    )
  }

  #fail(failure: StreamFailure, reason: string): void {
    this.#finish({ kind: 'failed', failure, connect: !this.#everOpened, reason })
  }

  #finish(reason: UpstreamCloseReason, notify = true): void {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    for (const timer of [this.#connectTimer, this.#drainTimer, this.#closeTimer]) if (timer) clearTimeout(timer)
    this.#early = []
    this.#earlyBytes = 0
    const socket = this.#socket
    if (socket) {
      this.#detach(socket)
      socket.on('error', () => {})
      if (reason.kind !== 'failed' && !socket.destroyed) {
        if (reason.kind === 'stream-error') socket.write(STREAM_CLOSE)
        socket.end()
        setTimeout(() => socket.destroy(), 1000).unref()
      } else {
        socket.destroy()
      }
    }
    if (notify) this.handler.closed(reason)
  }
}
