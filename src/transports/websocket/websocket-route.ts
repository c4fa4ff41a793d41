/**
 * The RFC 6455 / RFC 7395 handshake, as a fastify route. Every refusal
 * happens here, before any upstream connection, with a precise status.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import websocketPlugin from '@fastify/websocket'
import type { WebSocket } from 'ws'
import type { IdSource } from '../../core/ids.js'
import type { SessionLimits } from '../../core/admission.js'
import { originAllowed } from '../../edge/origin-policy.js'
import type { ClientInfo, RequestLike } from '../../edge/client-address.js'
import { proxyProtocolHeader } from '../../net/proxy-protocol.js'
import type { ProxyProtocolVersion } from '../../net/proxy-protocol.js'
import type { Logger } from '../../observability/logger.js'
import type { Metrics } from '../../observability/metrics.js'
import { WebSocketSession } from './websocket-session.js'
import type { WebSocketSessionSettings } from './websocket-session.js'

export const XMPP_SUBPROTOCOL = 'xmpp'

export interface WebSocketRouteOptions {
  readonly path: string
  readonly allowedOrigins: readonly string[]
  readonly maxPayloadBytes: number
  readonly session: WebSocketSessionSettings
  readonly ids: IdSource
  readonly log: Logger
  readonly metrics: Metrics
  /** False while the server drains: new sessions are refused. */
  readonly accepting: () => boolean
  /** Shared with BOSH: total and per-address session caps. */
  readonly limits: SessionLimits
  /** Who the client is (trusted proxy headers applied). */
  readonly clientOf: (request: RequestLike) => ClientInfo
  readonly proxyProtocol: ProxyProtocolVersion
}

export interface WebSocketTransport {
  /** Close every session (upstream first, then `<close/>`), resolving when all are gone. */
  shutdown(): Promise<void>
  readonly sessions: ReadonlySet<WebSocketSession>
}

function offeredProtocols(request: FastifyRequest): string[] {
  const header = request.headers['sec-websocket-protocol']
  if (header === undefined) return []
  return (Array.isArray(header) ? header.join(',') : header).split(',').map((p) => p.trim()).filter(Boolean)
}

export async function registerWebSocketRoute(app: FastifyInstance, options: WebSocketRouteOptions): Promise<WebSocketTransport> {
  const sessions = new Set<WebSocketSession>()
  const releases = new WeakMap<object, () => void>()
  const clients = new WeakMap<object, ClientInfo>()
  const { metrics } = options

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

  const refuse = (reply: FastifyReply, status: number, reason: string, message: string, headers: Record<string, string> = {}) => {
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
      const admission = options.limits.admit(client.address)
      if (!admission.ok) {
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
      const id = options.ids.next()
      const client = clients.get(request.raw) ?? options.clientOf(request.raw)
      const log = options.log.child({ sid: id, transport: 'websocket', remote: client.address })
      const release = releases.get(request.raw)
      if (release) socket.once('close', release)
      const preamble = proxyProtocolHeader(options.proxyProtocol, client.connection)
      const settings = preamble ? { ...options.session, upstream: { ...options.session.upstream, preamble } } : options.session
      const session = new WebSocketSession(socket, settings, log, metrics)
      sessions.add(session)
      void session.done.then(() => sessions.delete(session))
    },
  })

  return {
    sessions,
    async shutdown() {
      await Promise.all([...sessions].map((session) => session.shutdown()))
    },
  }
}
