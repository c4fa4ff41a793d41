/**
 * The RFC 6455 / RFC 7395 handshake as a fastify route, and the `ws`
 * adapter for the WebSocket session core. Every refusal happens here,
 * before any upstream connection, with a precise status; every decision
 * after the upgrade is the core's (src/core/websocket/session.ts).
 */
import { STATUS_CODES } from 'node:http'
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { WebSocketServer } from 'ws'
import type { WebSocket } from 'ws'
import type { SessionAdmission } from '../../core/admission.js'
import type { Clock } from '../../core/clock.js'
import type { IdSource } from '../../core/ids.js'
import { STREAM_CONDITIONS } from '../../core/conditions.js'
import type { StreamCondition } from '../../core/conditions.js'
import { WebSocketSession } from '../../core/websocket/session.js'
import type { WebSocketPeer, WebSocketSessionSettings } from '../../core/websocket/session.js'
import { originAllowed } from '../../edge/origin-policy.js'
import type { EdgeRefusal } from '../../edge/refusals.js'
import type { ClientInfo, RequestLike } from '../../edge/client-address.js'
import { proxyProtocolHeader } from '../../net/proxy-protocol.js'
import type { ProxyProtocolVersion } from '../../net/proxy-protocol.js'
import type { Logger } from '../../observability/logger.js'
import { loggableId, sessionLog } from '../../observability/logger.js'
import type { EdgeLog } from '../../observability/edge-log.js'
import { boundedOrigin } from '../../observability/edge-log.js'
import type { Metrics } from '../../observability/metrics.js'
import { SessionObservers } from '../../observability/session-observer.js'
import type { ObserverContext } from '../../observability/session-observer.js'
import type { Upstreams } from '../../upstream/connector.js'

const XMPP_SUBPROTOCOL = 'xmpp'

export interface WebSocketRouteOptions {
  readonly path: string
  readonly allowedOrigins: readonly string[]
  readonly maxPayloadBytes: number
  readonly session: WebSocketSessionSettings
  readonly clock: Clock
  readonly upstreams: Upstreams
  readonly ids: IdSource
  readonly log: Logger
  readonly metrics: Metrics
  /** Session records, per-session metrics and the session-ended line. */
  readonly observers: ObserverContext
  /** Rate-limited operator lines for refusals. */
  readonly edgeLog: EdgeLog
  /** False while the server drains: new sessions are refused. */
  readonly accepting: () => boolean
  /** Shared with BOSH: total and per-address session caps. */
  readonly admission: SessionAdmission
  /** Who the client is (trusted proxy headers applied). */
  readonly clientOf: (request: RequestLike) => ClientInfo
  readonly proxyProtocol: ProxyProtocolVersion
}

export interface WebSocketTransport {
  /** Close every session (upstream first, then `<close/>`), resolving when all are gone. */
  shutdown(): Promise<void>
  /** Close every WebSocket with 1012, leaving each upstream stream resumable (`shutdownHandoff`); resolves when all are gone. */
  handOff(): Promise<void>
  readonly sessions: ReadonlySet<WebSocketSession>
}

/** ws's error code for a message over `maxPayload` (it closes with 1009 itself). */
const WS_TOO_BIG = 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'

const TEXT_FRAME = { binary: false } as const

/** How long a refused upgrade's socket may stay open for its answer to be read. */
const ANSWER_LINGER_MS = 5_000

/** What a WebSocket is carried on: the upgraded TCP (or TLS) socket, corked to coalesce writes. */
interface Carrier {
  cork(): void
  uncork(): void
}

/**
 * The WebSocketPeer port over a `ws` socket. What one turn of the event
 * loop sends goes out in one write: the carrier is corked at the first send
 * and uncorked once the current work is done (process.nextTick). A class,
 * so an idle session holds one small object rather than a set of closures.
 */
class WsPeer implements WebSocketPeer {
  readonly #socket: WebSocket
  readonly #carrier: Carrier | undefined
  readonly #flushed: (error?: Error | null) => void
  #corked = false
  readonly #uncork = () => {
    this.#corked = false
    this.#carrier?.uncork()
  }

  constructor(socket: WebSocket, carrier: Carrier | undefined, flushed: (error?: Error | null) => void) {
    this.#socket = socket
    this.#carrier = carrier
    this.#flushed = flushed
  }

  send(message: Uint8Array | string): void {
    const socket = this.#socket
    if (socket.readyState !== socket.OPEN) return
    if (!this.#corked && this.#carrier) {
      this.#corked = true
      this.#carrier.cork()
      process.nextTick(this.#uncork)
    }
    // RFC 7395 §3.2: XMPP travels in text frames, bytes included (ws would send a Buffer as binary).
    socket.send(message, TEXT_FRAME, this.#flushed)
  }

  get bufferedBytes(): number {
    return this.#socket.bufferedAmount
  }

  ping(): void {
    if (this.#socket.readyState === this.#socket.OPEN) this.#socket.ping()
  }

  close(code: number, reason?: string): void {
    const socket = this.#socket
    if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.close(code, reason)
  }

  terminate(): void {
    this.#socket.terminate()
  }

  pauseReading(): void {
    this.#socket.pause()
  }

  resumeReading(): void {
    this.#socket.resume()
  }
}

function offeredProtocols(request: IncomingMessage): string[] {
  const header = request.headers['sec-websocket-protocol']
  if (header === undefined) return []
  return (Array.isArray(header) ? header.join(',') : header).split(',').map((p) => p.trim()).filter(Boolean)
}

/** The path of a request target (`/xmpp-websocket?x=1` → `/xmpp-websocket`). */
function pathOf(url: string | undefined): string {
  const target = url ?? '/'
  const query = target.indexOf('?')
  return query < 0 ? target : target.slice(0, query)
}

function destroyOnError(this: Duplex): void {
  this.destroy()
}

/** An HTTP answer written straight to an upgrade request's socket, which then closes. */
function answerRaw(clock: Clock, socket: Duplex, status: number, message: string, headers: Readonly<Record<string, string>> = {}): void {
  const body = message + '\n'
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'content-type: text/plain; charset=utf-8',
    'connection: close',
    `content-length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ]
  if (!socket.writable) {
    socket.destroy()
    return
  }
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`)
  // A client that does not read its answer does not keep the socket.
  const linger = clock.setTimeout(() => socket.destroy(), ANSWER_LINGER_MS)
  socket.once('close', () => linger.cancel())
}

/**
 * The RFC 6455 handshake is taken on the HTTP server's `upgrade` event and
 * handed to `ws` (`noServer`), not routed through fastify by
 * @fastify/websocket: that plugin runs every upgrade through fastify's whole
 * request cycle (routing, hooks, a ServerResponse, fastify's Request and
 * Reply, promises) only to hijack it, which measured ≈ 0.4 ms of CPU per
 * login on the benchmark machine, and it kept those objects reachable from
 * the live connection (≈ 3 kB per idle session). `ws` is still what speaks
 * RFC 6455; the refusals below are the same statuses and headers as before.
 */
export async function registerWebSocketRoute(app: FastifyInstance, options: WebSocketRouteOptions): Promise<WebSocketTransport> {
  const sessions = new Set<WebSocketSession>()
  /** Who waits for a session's end: filled only while shutting down (an idle session holds no promise). */
  const waiting = new Map<WebSocketSession, { readonly ended: Promise<void>; readonly resolve: () => void }>()
  const endOf = (session: WebSocketSession): Promise<void> => {
    let waiter = waiting.get(session)
    if (!waiter) {
      let resolve!: () => void
      const ended = new Promise<void>((r) => (resolve = r))
      waiter = { ended, resolve }
      waiting.set(session, waiter)
    }
    return waiter.ended
  }
  const { metrics } = options
  const observers = new SessionObservers(options.observers, 'websocket')
  const wss = new WebSocketServer({
    noServer: true,
    // The sessions are tracked here; ws need not keep a set of its own.
    clientTracking: false,
    maxPayload: options.maxPayloadBytes,
    // RFC 7395 §3.1: the server answers with the `xmpp` subprotocol.
    handleProtocols: (protocols: Set<string>) => (protocols.has(XMPP_SUBPROTOCOL) ? XMPP_SUBPROTOCOL : false),
    perMessageDeflate: false,
  })

  const refuse = (socket: Duplex, status: number, reason: EdgeRefusal, message: string, headers: Record<string, string> = {}) => {
    metrics.refusals.inc({ transport: 'websocket', reason })
    answerRaw(options.clock, socket, status, message, headers)
  }

  // Guard clauses for the upgrade, in the order a client would want to hear them.
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node has taken its own error listener off an upgraded socket: a reset now must not become an uncaught error.
    socket.on('error', destroyOnError)
    if (request.method !== 'GET' || pathOf(request.url) !== options.path) {
      answerRaw(options.clock, socket, 404, 'Not found')
      return
    }
    const version = request.headers['sec-websocket-version']
    if (String(version) !== '13') {
      // RFC 6455 §4.4: tell a hixie-76 or old hybi client which version we speak.
      refuse(socket, 426, 'version', 'Only WebSocket version 13 (RFC 6455) is supported', { 'sec-websocket-version': '13' })
      return
    }
    if (!originAllowed(request.headers.origin, options.allowedOrigins)) {
      options.edgeLog.originRefused('websocket', request.headers.origin, options.clientOf(request).address)
      refuse(socket, 403, 'origin', 'Origin not allowed')
      return
    }
    if (!offeredProtocols(request).includes(XMPP_SUBPROTOCOL)) {
      refuse(socket, 400, 'subprotocol', "The 'xmpp' WebSocket subprotocol is required (RFC 7395 §3.1)")
      return
    }
    if (!options.accepting()) {
      refuse(socket, 503, 'draining', 'Server is shutting down', { 'retry-after': '5' })
      return
    }
    const client = options.clientOf(request)
    const admission = options.admission.admit(client.address)
    if (!admission.ok) {
      options.edgeLog.capacityRefused('websocket', admission.reason, client.address)
      if (admission.reason === 'max-sessions') refuse(socket, 503, admission.reason, 'Too many sessions on this server', { 'retry-after': '30' })
      else refuse(socket, 429, admission.reason, 'Too many sessions from this address', { 'retry-after': '30' })
      return
    }
    // A WebSocket session lives exactly as long as its TCP connection.
    socket.once('close', admission.release)
    // ws puts its own error listener on the socket, synchronously, in handleUpgrade.
    socket.removeListener('error', destroyOnError)
    wss.handleUpgrade(request, socket, head, (websocket) => start(websocket, request, client, socket as Socket))
  }
  app.server.on('upgrade', onUpgrade)
  app.addHook('onClose', (_instance, done) => {
    app.server.removeListener('upgrade', onUpgrade)
    done()
  })

  // A plain GET on the WebSocket URL: say what lives here.
  app.get(options.path, async (_request, reply) =>
    reply
      .code(426)
      .headers({ upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13', 'content-type': 'text/plain; charset=utf-8' })
      .send('This is an XMPP over WebSocket endpoint (RFC 7395). Connect with a WebSocket client using the "xmpp" subprotocol.\n'),
  )

  const start = (socket: WebSocket, request: IncomingMessage, client: ClientInfo, carrier: Socket) => {
    const id = loggableId(options.ids.next())
    const log = sessionLog(options.log, { sid: id, transport: 'websocket', remote: client.address })
    const tracked = observers.observe(log, { id, remote: client.address, origin: boundedOrigin(request.headers.origin) }, () => {
      sessions.delete(session)
      waiting.get(session)?.resolve()
      waiting.delete(session)
    })
    const session: WebSocketSession = new WebSocketSession({
      peer: new WsPeer(socket, carrier, (error) => {
        if (!error) session.flushed()
      }),
      settings: options.session,
      clock: options.clock,
      upstream: options.upstreams.forSession({ preamble: proxyProtocolHeader(options.proxyProtocol, client.connection), log }),
      observer: tracked.observer,
    })
    tracked.attach({
      describe: () => ({ domain: session.domain }),
      kill: (condition) => {
        if (condition !== undefined && !(STREAM_CONDITIONS as readonly string[]).includes(condition)) return false
        session.kill(condition as StreamCondition | undefined)
        return true
      },
    })
    sessions.add(session)
    socket.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      if (isBinary) session.binaryMessage()
      else session.message(Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data)
    })
    socket.on('pong', () => session.pong())
    socket.on('error', (error: Error & { code?: string }) => {
      log.debug({ err: error.code ?? error.message }, 'websocket error')
      // ws has already started its close (1009 for a message too big); the connection goes now.
      socket.terminate()
      if (error.code === WS_TOO_BIG) session.messageTooBig()
    })
    socket.on('close', (code: number) => {
      log.debug({ code }, 'websocket closed')
      session.peerClosed()
    })
    log.debug('websocket session started')
  }

  /** Ends every session with `end` and resolves when all are gone. */
  const endAll = (end: (session: WebSocketSession) => void): Promise<void> =>
    Promise.all(
      [...sessions].map((session) => {
        // Waited for first: a session may end inside `end`.
        const ended = endOf(session)
        end(session)
        return ended
      }),
    ).then(() => undefined)

  return {
    sessions,
    shutdown: () => endAll((session) => session.shutdown()),
    handOff: () => endAll((session) => session.handOff()),
  }
}
