/**
 * The admin API, on the admin listener only, behind `adminToken`:
 *
 *   GET    /admin/sessions           live sessions, filtered and paginated
 *   DELETE /admin/sessions/{id}      end one (policy-violation, or ?condition=…)
 *   POST   /admin/prebind            { jid, password, ip? } → { jid, sid, rid }
 *
 * Every request without the token gets 401 with `WWW-Authenticate: Bearer`
 * (RFC 6750 §3). The session list carries personal data (addresses, JIDs);
 * that is why it is not on the public listener and not without a token.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Clock } from '../core/clock.js'
import type { Transport } from '../core/session-end.js'
import type { Logger } from '../observability/logger.js'
import type { Metrics } from '../observability/metrics.js'
import { SESSION_STATES, TRANSPORTS } from '../observability/session-directory.js'
import type { SessionDirectory, SessionFilter, SessionRecord, SessionState } from '../observability/session-directory.js'
import type { BearerToken } from './bearer.js'
import { refuseUnauthorized } from './bearer.js'
import type { PrebindOutcome, PrebindRequest } from './prebind.js'
import type { TokenBucket } from './token-bucket.js'

/** Sessions per page by default, and at most. */
export const DEFAULT_PAGE = 100
export const MAX_PAGE = 1000
/** A prebind request is a JID, a password and an address. */
const PREBIND_BODY_LIMIT = 4096

export interface AdminApiOptions {
  readonly token: BearerToken
  readonly directory: SessionDirectory
  readonly clock: Clock
  readonly metrics: Metrics
  readonly log: Logger
  /** Put JIDs in the prebind log line (option logJid). */
  readonly logJid: boolean
  /** The address of an admin request's peer. */
  readonly peer: (request: FastifyRequest) => string
  readonly prebind: (request: PrebindRequest) => Promise<PrebindOutcome>
  readonly prebindRate: TokenBucket
  /** False while the process drains: prebind is refused. */
  readonly accepting: () => boolean
}

function json(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).headers({ 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).send(JSON.stringify(body))
}

function badRequest(reply: FastifyReply, error: string): FastifyReply {
  return json(reply, 400, { error })
}

function view(record: SessionRecord, directory: SessionDirectory, now: number): Record<string, unknown> {
  const facts = record.controls.describe()
  return {
    id: record.id,
    transport: record.transport,
    state: directory.stateOf(record),
    remote: record.remote,
    ...(record.origin !== undefined ? { origin: record.origin } : {}),
    ...(facts.domain !== undefined ? { domain: facts.domain } : {}),
    ...(record.jid !== undefined ? { jid: record.jid } : {}),
    authenticated: record.authenticated,
    ...(record.authFailures > 0 ? { authFailures: record.authFailures } : {}),
    ageSeconds: Math.round((now - record.startedAt) / 1000),
    idleSeconds: Math.round((now - record.lastActivityAt) / 1000),
    stanzas: { in: record.stanzas.to_upstream, out: record.stanzas.to_client },
    bytes: { in: record.bytes.to_upstream, out: record.bytes.to_client },
    ...(record.transport === 'bosh' ? { heldRequests: facts.held ?? 0 } : {}),
  }
}

/** `?transport=bosh&state=authenticated&domain=…&remote=…&limit=…&after=…`, checked. */
function filterOf(query: Record<string, unknown>): { filter: SessionFilter; limit: number; after: number } | string {
  const one = (name: string): string | undefined => {
    const value = query[name]
    return typeof value === 'string' && value !== '' ? value : undefined
  }
  const transport = one('transport')
  if (transport !== undefined && !TRANSPORTS.includes(transport as Transport)) return `transport must be one of ${TRANSPORTS.join(', ')}`
  const state = one('state')
  if (state !== undefined && !(SESSION_STATES as readonly string[]).includes(state)) return `state must be one of ${SESSION_STATES.join(', ')}`
  const limitText = one('limit') ?? String(DEFAULT_PAGE)
  const limit = /^\d{1,7}$/.test(limitText) ? Number(limitText) : NaN
  if (!(limit >= 1 && limit <= MAX_PAGE)) return `limit must be an integer from 1 to ${MAX_PAGE}`
  const afterText = one('after') ?? '0'
  const after = /^\d{1,15}$/.test(afterText) ? Number(afterText) : NaN
  if (!Number.isSafeInteger(after)) return 'after must be the `next` value of a previous page'
  const domain = one('domain')?.toLowerCase()
  const remote = one('remote')
  return {
    filter: {
      ...(transport !== undefined ? { transport: transport as Transport } : {}),
      ...(state !== undefined ? { state: state as SessionState } : {}),
      ...(domain !== undefined ? { domain } : {}),
      ...(remote !== undefined ? { remote } : {}),
    },
    limit,
    after,
  }
}

export async function registerAdminApi(app: FastifyInstance, options: AdminApiOptions): Promise<void> {
  const { directory, clock, metrics, log } = options
  await app.register(async (scope) => {
    scope.addHook('onRequest', async (request, reply) => {
      if (!options.token.matches(request.headers.authorization)) return refuseUnauthorized(request, reply)
      return undefined
    })
    scope.addHook('onResponse', async (request, reply) => {
      metrics.adminRequests.inc({ endpoint: `${request.method} ${request.routeOptions.url ?? 'unknown'}`, status: String(reply.statusCode) })
    })

    scope.get('/admin/sessions', async (request, reply) => {
      const parsed = filterOf(request.query as Record<string, unknown>)
      if (typeof parsed === 'string') return badRequest(reply, parsed)
      const page = directory.list(parsed.filter, parsed.limit, parsed.after)
      const now = clock.now()
      return json(reply, 200, { sessions: page.records.map((record) => view(record, directory, now)), total: page.total, next: page.next ?? null })
    })

    scope.get('/admin/sessions/:id', async (request, reply) => {
      const record = directory.get((request.params as { id: string }).id)
      if (!record) return json(reply, 404, { error: 'no such session' })
      return json(reply, 200, view(record, directory, clock.now()))
    })

    scope.delete('/admin/sessions/:id', async (request, reply) => {
      const id = (request.params as { id: string }).id
      const record = directory.get(id)
      if (!record) return json(reply, 404, { error: 'no such session (it may have ended already)' })
      const query = request.query as Record<string, unknown>
      const condition = typeof query.condition === 'string' && query.condition !== '' ? query.condition : undefined
      if (!record.controls.kill(condition)) {
        return badRequest(reply, `${condition ?? '(none)'} is not a ${record.transport === 'bosh' ? 'XEP-0124 §17.2 binding' : 'RFC 6120 §4.9.3 stream'} condition`)
      }
      log.info({ session: id, transport: record.transport, condition: condition ?? 'policy-violation', by: options.peer(request) }, 'session ended by the admin API')
      return reply.code(204).header('cache-control', 'no-store').send()
    })

    scope.post('/admin/prebind', { bodyLimit: PREBIND_BODY_LIMIT }, async (request, reply) => {
      const started = clock.now()
      const body = request.body as Record<string, unknown> | undefined
      const jid = typeof body?.jid === 'string' ? body.jid : undefined
      const password = typeof body?.password === 'string' ? body.password : undefined
      const ip = typeof body?.ip === 'string' && body.ip !== '' ? body.ip : options.peer(request)
      const done = (result: string, status: number, answer: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
        metrics.prebinds.inc({ result })
        // Never the password; the JID only with logJid.
        log.info({ result, ...(jid !== undefined && options.logJid ? { jid } : {}), ...extra, ip, durationMs: Math.round(clock.now() - started) }, 'prebind')
        return json(reply, status, answer)
      }
      if (!options.prebindRate.take()) {
        reply.header('retry-after', String(options.prebindRate.retryAfterSeconds))
        return done('rate-limited', 429, { error: 'too many prebind requests (prebindMaxPerSecond)' })
      }
      if (jid === undefined || password === undefined || password === '') return done('refused', 400, { error: 'a JSON body with "jid" and "password" is required' })
      if (!/^[0-9a-fA-F:.]{2,45}$/.test(ip)) return done('refused', 400, { error: '"ip" must be an IP address' })
      if (!options.accepting()) {
        reply.header('retry-after', '5')
        return done('refused', 503, { error: 'this server is shutting down' })
      }
      const outcome = await options.prebind({ jid, password, ip })
      if (outcome.ok) return done('ok', 200, { jid: outcome.jid, sid: outcome.sid, rid: outcome.rid }, { mechanism: outcome.mechanism, domain: outcome.jid.split('@')[1]?.split('/')[0] })
      return done(outcome.result, outcome.status, { error: outcome.error, ...(outcome.condition !== undefined ? { condition: outcome.condition } : {}) }, outcome.condition !== undefined ? { condition: outcome.condition } : {})
    })
  })
}
