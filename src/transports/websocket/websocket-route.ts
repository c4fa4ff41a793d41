/**
 * The RFC 6455 / RFC 7395 handshake as a fastify route, and the `ws`
 * adapter for the WebSocket session core. Every refusal happens here,
 * before any upstream connection, with a precise status; every decision
 * after the upgrade is the core's (src/core/websocket/session.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import websocketPlugin from '@fastify/websocket'
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

/**
 * After the upgrade nothing needs the HTTP request any more, but
 * @fastify/websocket leaves it reachable from the live connection for the
 * session's life (≈ 3 kB each: the IncomingMessage, the ServerResponse it
 * made to route the upgrade, fastify's Request and Reply): through the
 * response it assigned to the TCP socket, and through the `error` listener
 * it puts on the WebSocket to call the route's error handler. The session
 * listens for errors itself (below), so both references are let go.
 */
function releaseUpgradeRequest(socket: WebSocket, carrier: Socket | undefined): void {
  const response = (carrier as (Socket & { _httpMessage?: unknown }) | undefined)?._httpMessage
  if (carrier && response instanceof ServerResponse) response.detachSocket(carrier)
  socket.removeAllListeners('error')
}

function offeredProtocols(request: FastifyRequest): string[] {
  const header = request.headers['sec-websocket-protocol']
  if (header === undefined) return []
  return (Array.isArray(header) ? header.join(',') : header).split(',').map((p) => p.trim()).filter(Boolean)
}

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
  const releases = new WeakMap<object, () => void>()
  const clients = new WeakMap<object, ClientInfo>()
  const { metrics } = options
  const observers = new SessionObservers(options.observers, 'websocket')

  await app.register(websocketPlugin, {
    options: {
      maxPayload: options.maxPayloadBytes,
      // RFC 7395 §3.1: the server answers with the `xmpp` subprotocol.
      handleProtocols: (protocols: Set<string>) => (protocols.has(XMPP_SUBPROTOCOL) ? XMPP_SUBPROTOCOL : false),
      perMessageDeflate: false,
    },
    // Shutdown is ours: sessions close upstream first (see shutdown below).
    preClose: (done: () => void) => done(),
  })

  const refuse = (reply: FastifyReply, status: number, reason: EdgeRefusal, message: string, headers: Record<string, string> = {}) => {
    metrics.refusals.inc({ transport: 'websocket', reason })
    return reply.code(status).headers({ 'content-type': 'text/plain; charset=utf-8', connection: 'close', ...headers }).send(message + '\n')
  }

  app.route({
    method: 'GET',
    url: options.path,
    // Guard clauses for the upgrade, in the order a client would want to hear them.
    preValidation: async (request, reply) => {
      if (!request.ws) return
      const version = request.headers['sec-websocket-version']
      if (String(version) !== '13') {
        // RFC 6455 §4.4: tell a hixie-76 or old hybi client which version we speak.
        return refuse(reply, 426, 'version', 'Only WebSocket version 13 (RFC 6455) is supported', { 'sec-websocket-version': '13' })
      }
      if (!originAllowed(request.headers.origin, options.allowedOrigins)) {
        options.edgeLog.originRefused('websocket', request.headers.origin, options.clientOf(request.raw).address)
        return refuse(reply, 403, 'origin', 'Origin not allowed')
      }
      if (!offeredProtocols(request).includes(XMPP_SUBPROTOCOL)) {
        return refuse(reply, 400, 'subprotocol', "The 'xmpp' WebSocket subprotocol is required (RFC 7395 §3.1)")
      }
      if (!options.accepting()) {
        return refuse(reply, 503, 'draining', 'Server is shutting down', { 'retry-after': '5' })
      }
      const client = options.clientOf(request.raw)
      clients.set(request.raw, client)
      const admission = options.admission.admit(client.address)
      if (!admission.ok) {
        options.edgeLog.capacityRefused('websocket', admission.reason, client.address)
        return admission.reason === 'max-sessions'
          ? refuse(reply, 503, admission.reason, 'Too many sessions on this server', { 'retry-after': '30' })
          : refuse(reply, 429, admission.reason, 'Too many sessions from this address', { 'retry-after': '30' })
      }
      // A WebSocket session lives exactly as long as its TCP connection
      // (injected test requests have no raw socket: the WebSocket close releases them).
      request.raw.socket?.once('close', admission.release)
      releases.set(request.raw, admission.release)
    },
    handler: async (_request, reply) => {
      // A plain GET on the WebSocket URL: say what lives here.
      return reply
        .code(426)
        .headers({ upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13', 'content-type': 'text/plain; charset=utf-8' })
        .send('This is an XMPP over WebSocket endpoint (RFC 7395). Connect with a WebSocket client using the "xmpp" subprotocol.\n')
    },
    wsHandler: (socket: WebSocket, request: FastifyRequest) => {
      const client = clients.get(request.raw) ?? options.clientOf(request.raw)
      const id = loggableId(options.ids.next())
      const log = sessionLog(options.log, { sid: id, transport: 'websocket', remote: client.address })
      const carrier = request.raw.socket ?? undefined
      releaseUpgradeRequest(socket, carrier)
      const release = releases.get(request.raw)
      if (release) socket.once('close', release)
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
    },
  })

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
