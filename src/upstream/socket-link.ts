/**
 * The ClientStream's link over real sockets: connect (SRV, TCP, PROXY
 * preamble, direct TLS), STARTTLS on request, bytes both ways, and socket
 * events turned into `link…` calls. Every decision about them is the
 * ClientStream's; this class only moves bytes and reports what happened.
 */
import type net from 'node:net'
import type { ClientStream, ClientStreamLink } from '../core/xmpp/client-stream.js'
import type { SessionLog } from '../observability/logger.js'
import { endpointsFor, openTcp, secure } from './connect.js'
import type { ConnectFailure, Endpoint, SrvResolver, TlsSettings } from './connect.js'
import type { UpstreamTarget } from './routing.js'

export interface LinkSettings {
  readonly tls: TlsSettings
  readonly resolveSrv?: SrvResolver | undefined
  /** Written first on the TCP connection (PROXY protocol), when set. */
  readonly preamble?: Uint8Array | undefined
}

/** RFC 1122 loopback: a server on this host, reached without crossing a network. */
function isLoopbackTarget(target: UpstreamTarget): boolean {
  if (target.kind === 'srv') return false
  return target.host === 'localhost' || target.host.startsWith('127.') || target.host === '::1'
}

export class SocketLink implements ClientStreamLink {
  /** The connected socket (plain, or TLS once secured). */
  #socket: net.Socket | undefined
  /** A socket still connecting or handshaking, so destroy() can stop it. */
  #pending: net.Socket | undefined
  #destroyed = false
  #paused = false
  #lastError: string | undefined
  /** The endpoint connected to, once connected. */
  endpoint: Endpoint | undefined
  /** The last failed step, for the operator's diagnosis (upstream/diagnostics.ts). */
  lastFailure: ConnectFailure | undefined

  constructor(
    private readonly stream: ClientStream,
    private readonly target: UpstreamTarget,
    /** The XMPP domain: SRV name, TLS server name and certificate identity. */
    private readonly domain: string,
    private readonly settings: LinkSettings,
    private readonly log: SessionLog,
  ) {}

  /** The connection is TLS now (direct, or after STARTTLS). */
  get encrypted(): boolean {
    return (this.#socket as { encrypted?: boolean } | undefined)?.encrypted === true
  }

  get queuedBytes(): number {
    return this.#socket?.writableLength ?? 0
  }

  connect(): void {
    void this.#connect()
  }

  async #connect(): Promise<void> {
    const endpoints = await endpointsFor(this.target, this.domain, this.settings.resolveSrv)
    let failure: ConnectFailure = {
      ok: false,
      cause: 'dns',
      text: 'the XMPP server could not be located',
      detail: `no endpoint for ${this.domain}`,
    }
    for (const endpoint of endpoints) {
      if (this.#destroyed) return
      const track = (socket: net.Socket) => (this.#pending = socket)
      const tcp = await openTcp(endpoint, track)
      if (!tcp.ok) {
        failure = tcp
        continue
      }
      if (this.settings.preamble) tcp.socket.write(this.settings.preamble)
      let socket: net.Socket = tcp.socket
      if (endpoint.directTls) {
        // XEP-0368 direct TLS over the connection we opened.
        const secured = await secure(tcp.socket, this.domain, this.settings.tls, track, 'xmpp-client')
        if (!secured.ok) {
          failure = { ...secured, endpoint }
          continue
        }
        socket = secured.socket
      }
      this.#pending = undefined
      if (this.#destroyed) {
        socket.destroy()
        return
      }
      this.log.debug({ upstream: `${endpoint.host}:${endpoint.port}`, tls: endpoint.directTls }, 'upstream connected')
      this.endpoint = endpoint
      this.#attach(socket)
      this.stream.linkUp({ encrypted: endpoint.directTls, loopback: isLoopbackTarget(this.target), tlsRequired: this.target.kind === 'starttls' })
      return
    }
    this.#pending = undefined
    if (this.#destroyed) return
    this.log.debug({ detail: failure.detail }, 'upstream connect failed')
    this.lastFailure = failure
    this.stream.linkFailed(failure.cause, failure.text, failure.detail)
  }

  /** What one turn of the event loop writes goes out in one write: the socket is corked at the first write and uncorked once the current work is done. */
  write(data: Uint8Array | string): void {
    const socket = this.#socket
    if (!socket || socket.destroyed) return
    if (!this.#corked) {
      this.#corked = true
      socket.cork()
      process.nextTick(this.#uncork)
    }
    socket.write(data)
  }

  #corked = false

  #uncork = (): void => {
    this.#corked = false
    const socket = this.#socket
    if (socket && !socket.destroyed) socket.uncork()
  }

  startTls(): void {
    const plain = this.#socket
    if (!plain) return
    this.#detach(plain)
    this.#socket = undefined
    void secure(plain, this.domain, this.settings.tls, (socket) => (this.#pending = socket)).then((secured) => {
      this.#pending = undefined
      if (this.#destroyed) {
        if (secured.ok) secured.socket.destroy()
        return
      }
      if (!secured.ok) {
        plain.destroy()
        this.log.debug({ detail: secured.detail }, 'upstream TLS failed')
        this.lastFailure = this.endpoint ? { ...secured, endpoint: this.endpoint } : secured
        this.stream.linkFailed(secured.cause, secured.text, secured.detail)
        return
      }
      this.log.debug({ protocol: secured.socket.getProtocol() }, 'upstream TLS established')
      this.#attach(secured.socket)
      this.stream.linkSecured()
    })
  }

  pause(): void {
    this.#paused = true
    this.#socket?.pause()
  }

  resume(): void {
    this.#paused = false
    this.#socket?.resume()
  }

  end(): void {
    const socket = this.#socket
    if (socket && !socket.destroyed) socket.end()
  }

  destroy(): void {
    this.#destroyed = true
    this.#pending?.destroy()
    this.#pending = undefined
    const socket = this.#socket
    if (!socket) return
    this.#detach(socket)
    // Swallow a late error from a socket we no longer listen to.
    socket.on('error', () => {})
    socket.destroy()
  }

  #attach(socket: net.Socket): void {
    this.#socket = socket
    socket.setNoDelay(true)
    socket.on('data', this.#onData)
    socket.on('drain', this.#onDrain)
    socket.on('error', this.#onError)
    socket.on('close', this.#onClose)
    if (this.#paused) socket.pause()
  }

  #detach(socket: net.Socket): void {
    socket.off('data', this.#onData)
    socket.off('drain', this.#onDrain)
    socket.off('error', this.#onError)
    socket.off('close', this.#onClose)
  }

  #onData = (chunk: Buffer): void => {
    this.stream.linkData(chunk)
  }

  #onDrain = (): void => {
    this.stream.linkDrained()
  }

  #onError = (error: NodeJS.ErrnoException): void => {
    // 'close' follows; it carries the news.
    this.#lastError = error.code ?? error.message
    this.log.debug({ err: this.#lastError }, 'upstream socket error')
  }

  #onClose = (): void => {
    if (this.#destroyed) return
    this.stream.linkClosed(this.#lastError === undefined ? undefined : `upstream connection error: ${this.#lastError}`)
  }
}
