/**
 * BOSH over HTTP (XEP-0124 §5, XEP-0206): a thin fastify adapter around the
 * pure session registry. Here: CORS, content types, body size, the GET
 * page, and turning a BoshReply into an HTTP response. Nothing else.
 */
import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Admission } from '../../core/admission.js'
import type { Clock } from '../../core/clock.js'
import type { IdSource } from '../../core/ids.js'
import type { BoshOptions } from '../../core/bosh/options.js'
import type { BoshReply, BoshResponder } from '../../core/bosh/reply.js'
import { terminalReply } from '../../core/bosh/reply.js'
import { BoshSessionRegistry } from '../../core/bosh/session-registry.js'
import { BOSH_CONDITIONS } from '../../core/conditions.js'
import { BodyDeadlines } from './body-deadlines.js'
import type { BoshCondition } from '../../core/conditions.js'
import type { BoshMetrics } from '../../core/bosh/metrics.js'
import type { XmlLimits } from '../../core/xml/stream-reader.js'
import { escapeText } from '../../core/xml/serialize.js'
import { originAllowed } from '../../edge/origin-policy.js'
import type { EdgeRefusal } from '../../edge/refusals.js'
import type { ClientInfo, RequestLike } from '../../edge/client-address.js'
import { proxyProtocolHeader } from '../../net/proxy-protocol.js'
import type { ProxiedConnection, ProxyProtocolVersion } from '../../net/proxy-protocol.js'
import type { Logger } from '../../observability/logger.js'
import { loggableId, sessionLog } from '../../observability/logger.js'
import type { EdgeLog } from '../../observability/edge-log.js'
import { boundedOrigin } from '../../observability/edge-log.js'
import type { Metrics } from '../../observability/metrics.js'
import { SessionObservers } from '../../observability/session-observer.js'
import type { ObserverContext } from '../../observability/session-observer.js'
import type { Upstreams } from '../../upstream/connector.js'
import type { BoshForwarding } from './forwarding.js'
import { DROP_HEADER, OWNER_TIME_HEADER, PROOF_REFUSED_HEADER } from './forwarding.js'

export interface BoshRouteOptions {
  readonly path: string
  readonly options: BoshOptions
  readonly allowedOrigins: readonly string[]
  readonly corsMaxAgeSeconds: number
  readonly corsAllowCredentials: boolean
  readonly upstreams: Upstreams
  readonly clock: Clock
  readonly ids: IdSource
  readonly log: Logger
  readonly metrics: Metrics
  /** Session records, per-session metrics and the session-ended line. */
  readonly observers: ObserverContext
  /** Rate-limited operator lines for refusals. */
  readonly edgeLog: EdgeLog
  readonly admit: (ip: string) => Admission
  readonly version: string
  readonly xmlLimits: XmlLimits
  /** Time allowed to receive a whole request body, ms. */
  readonly bodyTimeoutMs: number
  /** False while the server drains: session creation is refused with 503. */
  readonly accepting: () => boolean
  /** Who the client is (trusted proxy headers applied). */
  readonly clientOf: (request: RequestLike) => ClientInfo
  readonly proxyProtocol: ProxyProtocolVersion
  /** With `peers`: requests for other nodes' sessions are forwarded, and peers' proofs judged. */
  readonly forwarding?: BoshForwarding
  /** XEP-0124 §17.2 see-other-uri for every creation (`seeOtherUri` + boshPath). */
  readonly seeOtherUri?: string
}

export interface BoshTransport {
  readonly registry: BoshSessionRegistry
  /** system-shutdown to every session (XEP-0124 §17.2). */
  shutdown(): void
  /**
   * One request from inside the process (prebind), handled as if it came
   * over plain HTTP from `ip` without an Origin: admitted, counted and
   * logged like any other.
   */
  inject(body: string, responder: BoshResponder, ip: string): void
  /** system-shutdown to every session, each upstream left resumable (`shutdownHandoff`). */
  handOff(): void
}

function sha1Hex(input: string): string {
  return createHash('sha1').update(input).digest('hex')
}

/** What the adapter hands the registry along with a request (`RequestContext.connection`), and gets back in `equip`. */
interface RequestFacts {
  /** Absent for a request another node forwarded (its client is the peer's word). */
  readonly proxied: ProxiedConnection | undefined
  readonly origin: string | undefined
}

function boshMetrics(metrics: Metrics, log: Logger, edgeLog: EdgeLog, remote: () => string): BoshMetrics {
  return {
    heldRequests: (delta) => metrics.boshHeldRequests.inc(delta),
    retransmission: () => metrics.boshRetransmissions.inc(),
    refused: (reason, condition) => {
      metrics.refusals.inc({ transport: 'bosh', reason })
      if (reason === 'max-sessions' || reason === 'max-sessions-per-ip') edgeLog.capacityRefused('bosh', reason, remote())
      // Counted always; logged at debug (a client retrying a dead sid would repeat it per request).
      log.debug({ transport: 'bosh', reason, condition }, 'bosh request refused')
    },
  }
}

export async function registerBoshRoute(app: FastifyInstance, route: BoshRouteOptions): Promise<BoshTransport> {
  const { log, metrics } = route
  const observers = new SessionObservers(route.observers, 'bosh')
  const refusedAtEdge = (reason: EdgeRefusal) => metrics.refusals.inc({ transport: 'bosh', reason })
  let handling = ''
  const registry = new BoshSessionRegistry({
    options: route.options,
    clock: route.clock,
    ids: route.ids,
    hash: sha1Hex,
    admit: route.admit,
    // The wrapper adds one level of nesting around the stanzas.
    xmlLimits: { ...route.xmlLimits, maxDepth: route.xmlLimits.maxDepth + 1 },
    // The registry handles each request synchronously: the address of the one being handled.
    metrics: boshMetrics(metrics, log, route.edgeLog, () => handling),
    ...(route.seeOtherUri !== undefined ? { seeOtherUri: route.seeOtherUri } : {}),
    // XEP-0124 §7.1: 'route' never chooses the upstream; configuration does.
    checkTarget: (to, proposed) => {
      const routed = route.upstreams.resolve(to)
      if (!routed.ok) return 'host-unknown'
      if (proposed === undefined) return 'ok'
      const target = routed.target
      const agrees = target.kind !== 'srv' && proposed.host.toLowerCase() === target.host.toLowerCase() && (proposed.port === undefined || proposed.port === target.port)
      return agrees ? 'ok' : 'host-unknown'
    },
    equip: (context) => {
      const id = loggableId(context.sid)
      const log = sessionLog(route.log, { sid: id, transport: 'bosh', remote: context.ip })
      log.debug({ to: context.params.to, waitMs: context.params.waitMs, hold: context.params.hold }, 'bosh session created')
      // The registry hands back the facts this adapter gave it.
      const facts = context.connection as RequestFacts | undefined
      const preamble = proxyProtocolHeader(route.proxyProtocol, facts?.proxied)
      const tracked = observers.observe(log, { id, remote: context.ip, origin: facts?.origin })
      const routed = route.upstreams.route(context.params.to)
      const domain = routed.ok ? routed.domain : undefined
      tracked.attach({
        describe: () => {
          const session = registry.get(context.sid)
          return { domain, held: session?.heldCount ?? 0 }
        },
        kill: (condition) => {
          if (condition !== undefined && !(BOSH_CONDITIONS as readonly string[]).includes(condition)) return false
          registry.get(context.sid)?.kill(condition as BoshCondition | undefined)
          return true
        },
      })
      return { upstream: route.upstreams.forSession({ preamble, log }), observer: tracked.observer }
    },
  })

  const corsHeaders = (request: FastifyRequest): Record<string, string> | undefined => {
    const origin = request.headers.origin
    if (origin === undefined) return {}
    if (!originAllowed(origin, route.allowedOrigins)) return undefined
    return {
      'access-control-allow-origin': origin,
      vary: 'Origin',
      ...(route.corsAllowCredentials ? { 'access-control-allow-credentials': 'true' } : {}),
    }
  }

  const refuseOrigin = (request: FastifyRequest, reply: FastifyReply) => {
    route.edgeLog.originRefused('bosh', request.headers.origin, route.clientOf(request.raw).address)
    refusedAtEdge('origin')
    return reply.code(403).header('content-type', 'text/plain; charset=utf-8').header('vary', 'Origin').send('Origin not allowed\n')
  }

  const send = (reply: FastifyReply, cors: Record<string, string>, answer: BoshReply, extra: Record<string, string> = {}) => {
    // A request whose connection is gone is answered into the cache only.
    if (reply.sent || reply.raw.destroyed) return
    reply.headers({ ...cors, ...extra, 'cache-control': 'no-store' })
    if (answer.status === 200) {
      const body = answer.body
      reply.code(200).header('content-type', answer.contentType).send(Buffer.from(body.buffer, body.byteOffset, body.byteLength))
    } else {
      // XEP-0124 §17.1: pre-1.6 clients get a bare HTTP status.
      reply.code(answer.status).header('content-type', answer.contentType).send('')
    }
  }

  await app.register(async (scope) => {
    // XEP-0124 §5: the body is XML whatever the Content-Type says (Strophe may send text/plain to dodge preflights).
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: route.options.maxBodyBytes }, (_request, body, done) => done(null, body))

    // A client that trickles its body ties up a socket and a parser: the whole
    // body must arrive within bodyTimeoutMs. (Node's own requestTimeout is not
    // enforced once the body is being read.) The held response that follows
    // is not limited by this.
    const deadlines = new BodyDeadlines(route.clock, route.bodyTimeoutMs, (request) => {
      refusedAtEdge('body-timeout')
      const socket = request.socket
      if (!socket || socket.destroyed || typeof socket.end !== 'function') return
      socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      socket.destroy()
    })
    scope.addHook('onRequest', (request, _reply, done) => {
      if (request.method === 'POST') deadlines.started(request.raw)
      done()
    })
    scope.addHook('onClose', (_instance, done) => {
      deadlines.close()
      done()
    })

    const post = async (request: FastifyRequest, reply: FastifyReply) => {
      deadlines.finished(request.raw)
      const cors = corsHeaders(request)
      if (!cors) return refuseOrigin(request, reply)
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
      // A held request lives for up to 'wait' seconds: its Request need not keep the body (the session copies what it keeps).
      request.body = undefined
      const forwarding = route.forwarding
      // A peer's proof (src/cluster/peer-proof.ts): believed, refused, or (no proof) ignored.
      const verdict = forwarding ? forwarding.judge(request, body) : ({ kind: 'absent' } as const)
      if (verdict.kind === 'refused') {
        refusedAtEdge('peer-proof')
        metrics.peerProofFailures.inc({ reason: verdict.reason })
        log.warn({ transport: 'bosh', reason: verdict.reason, peer: request.raw.socket?.remoteAddress }, 'forwarded request refused: its proof does not verify')
        return reply
          .code(403)
          .headers({ ...cors, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', [PROOF_REFUSED_HEADER]: verdict.reason })
          .send('Forwarding proof refused\n')
      }
      const proven = verdict.kind === 'proven'
      const receivedAt = route.clock.now()
      const responder = {
        respond: (answer: BoshReply) => send(reply, cors, answer, proven ? { [OWNER_TIME_HEADER]: (route.clock.now() - receivedAt).toFixed(3) } : {}),
        // §19: no answer at all, just the connection closed; for a forwarded request the forwarder closes its client's.
        drop: () => {
          if (proven) {
            if (!reply.sent) reply.code(403).headers({ [DROP_HEADER]: '1', 'cache-control': 'no-store' }).send('')
            return
          }
          reply.hijack()
          request.raw.socket.destroy()
        },
        whenGone: (gone: () => void) => {
          reply.raw.once('close', () => {
            if (!reply.raw.writableEnded) gone()
          })
        },
      }
      const client = proven ? { address: verdict.client.address, secure: verdict.client.secure, connection: undefined } : route.clientOf(request.raw)
      const facts: RequestFacts = { proxied: client.connection, origin: boundedOrigin(request.headers.origin) }
      const context = { ip: client.address, secure: client.secure, connection: facts }
      handling = client.address
      const parsed = registry.parse(body)
      const peer = forwarding?.peerFor(parsed, verdict)
      if (forwarding && peer) {
        // Another node's session: its answer, unchanged. Never a creation (no sid), never a peer's request again.
        const result = await forwarding.forward(
          peer,
          { url: request.url, headers: request.headers, body, onClientGone: (gone) => responder.whenGone(gone) },
          { address: client.address, secure: client.secure },
        )
        switch (result.kind) {
          case 'answer':
            if (reply.sent || reply.raw.destroyed) return reply
            return reply.code(result.status).headers(result.headers).send(result.body)
          case 'unknown-session':
            // The spec answer for a session nobody here can reach (XEP-0124 §17.2 item-not-found).
            send(reply, cors, terminalReply({ condition: 'item-not-found' }))
            return reply
          case 'drop':
            reply.hijack()
            request.raw.socket?.destroy()
            return reply
          case 'gone':
            return reply
        }
      }
      if (route.accepting()) {
        registry.handleParsed(parsed, responder, context)
        return reply
      }
      // Draining: existing sessions carry on, new ones are sent elsewhere.
      if (parsed.ok && parsed.request.kind === 'create') {
        refusedAtEdge('draining')
        return reply.code(503).headers({ ...cors, 'retry-after': '5', 'content-type': 'text/plain; charset=utf-8' }).send('Server is shutting down\n')
      }
      registry.handleParsed(parsed, responder, context)
      return reply
    }

    const preflight = async (request: FastifyRequest, reply: FastifyReply) => {
      const cors = corsHeaders(request)
      if (!cors) return refuseOrigin(request, reply)
      return reply
        .code(204)
        .headers({
          ...cors,
          'access-control-allow-methods': 'POST, GET, OPTIONS',
          'access-control-allow-headers': 'Content-Type',
          'access-control-max-age': String(route.corsMaxAgeSeconds),
        })
        .send()
    }

    const page = async (request: FastifyRequest, reply: FastifyReply) => {
      const cors = corsHeaders(request) ?? {}
      return reply
        .headers({ ...cors, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
        .send(
          `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Causeway BOSH</title></head><body>` +
            `<h1>Causeway BOSH endpoint</h1><p>This is an XMPP over BOSH endpoint (XEP-0124, XEP-0206). ` +
            `Point an XMPP client (Strophe.js, Converse.js, xmpp.js) at this URL; it speaks POST, not GET.</p>` +
            `<p>Causeway ${escapeText(route.version)}</p></body></html>\n`,
        )
    }

    const paths = route.path.endsWith('/') ? [route.path, route.path.slice(0, -1)] : [route.path, `${route.path}/`]
    for (const url of paths.filter((p) => p.length > 0)) {
      scope.post(url, post)
      scope.options(url, preflight)
      scope.get(url, page)
    }

    // Oversized and malformed HTTP bodies are still answered in BOSH terms where we can.
    scope.setErrorHandler((error: { statusCode?: number; code?: string; message: string }, request, reply) => {
      deadlines.finished(request.raw)
      const cors = corsHeaders(request) ?? {}
      if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || error.statusCode === 413) {
        // Cut before parsing; answered in BOSH terms (§17.2 policy-violation) so clients stop, not retry.
        refusedAtEdge('body-too-large')
        send(reply, cors, terminalReply({ condition: 'policy-violation' }))
        return reply
      }
      log.warn({ err: error.message, code: error.code }, 'bosh request failed')
      return reply.code(error.statusCode ?? 500).headers({ ...cors, 'content-type': 'text/plain; charset=utf-8' }).send('Bad request\n')
    })
  })

  return {
    registry,
    shutdown: () => registry.shutdown(),
    inject: (body, responder, ip) => {
      const facts: RequestFacts = { proxied: { sourceAddress: ip, sourcePort: 0, destinationAddress: '', destinationPort: 0 }, origin: undefined }
      handling = ip
      registry.handleBody(body, responder, { ip, secure: false, connection: facts })
    },
    handOff: () => registry.handOff(),
  }
}
