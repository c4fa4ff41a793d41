/**
 * Sessions by sid (XEP-0124 §7.2: the SID "MUST be unique within the context
 * of the connection manager application"), and the gate in front of them:
 * creation limits, target checks, unknown sids (§17.2 item-not-found) and
 * shutdown (§17.2 system-shutdown). The entry point for the HTTP adapter.
 */
import type { Admission } from '../admission.js'
import type { Clock } from '../clock.js'
import type { BoshCondition } from '../conditions.js'
import type { IdSource } from '../ids.js'
import type { SessionObserver } from '../session-observer.js'
import type { UpstreamConnector } from '../xmpp/upstream-port.js'
import type { BodyParseResult, BoshFailure, BoshRequest, BoshRoute, CreateRequest } from './body.js'
import { parseBody } from './body.js'
import type { BoshMetrics, RefusalReason } from './metrics.js'
import type { XmlLimits } from '../xml/stream-reader.js'
import type { SessionParams } from './negotiate.js'
import { negotiate } from './negotiate.js'
import type { BoshOptions } from './options.js'
import type { BoshResponder } from './reply.js'
import { DEFAULT_CONTENT_TYPE, terminalReply } from './reply.js'
import type { Payload } from './payload.js'
import { uriPayload } from './payload.js'
import { BoshSession } from './session.js'

/**
 * A sid as the adapter's IdSource makes it: an optional `NODE.` prefix and a
 * random part, all URL- and attribute-safe.
 */
const SID_PATTERN = /^[A-Za-z0-9_~-]+(?:\.[A-Za-z0-9_~-]+)*$/
const MAX_SID_LENGTH = 128

/** §17.2 host-unknown / host-gone: what the adapter's routing says about a target. */
export type TargetVerdict = 'ok' | 'host-unknown' | 'host-gone'

/** What the adapter knows about the HTTP request. */
export interface RequestContext {
  /** Client address as the adapter trusts it (socket or proxy header). */
  readonly ip: string
  /** The request reached us over TLS (directly, or as a trusted proxy says); unknown = not known to be. */
  readonly secure?: boolean
  /** Adapter facts about the connection, passed through to `connect` untouched. */
  readonly connection?: unknown
}

/** Everything the adapter needs to know about a session it equips. */
export interface SessionContext {
  readonly sid: string
  readonly params: SessionParams
  readonly ip: string
  /** The creating request's `connection`. */
  readonly connection?: unknown
}

/** What the adapter gives each new session: its upstream and its observer. */
export interface SessionIo {
  readonly upstream: UpstreamConnector
  readonly observer?: SessionObserver
}

export interface RegistryDeps {
  readonly options: BoshOptions
  readonly clock: Clock
  /** Session ids; must be unpredictable in production (§7.2 "opaque, unpredictable"). */
  readonly ids: IdSource
  /** Lower-case hex SHA-1, for §15 key sequences. */
  readonly hash: (input: string) => string
  /** Upstream and observer for a new session, once it is admitted. */
  readonly equip: (context: SessionContext) => SessionIo
  /** Routing policy for 'to' and 'route' (§7.1); absent: every target is accepted. */
  readonly checkTarget?: (to: string, route: BoshRoute | undefined) => TargetVerdict
  readonly metrics?: BoshMetrics
  /** Session caps shared with the other transport (core/admission.ts); `release` is called once the session is forgotten. */
  readonly admit: (ip: string) => Admission
  /** XML depth/attribute/name limits for bodies (the wrapper counts as one level). */
  readonly xmlLimits: Omit<XmlLimits, 'maxStanzaBytes'>
  /** §17.2 see-other-uri: when set, every creation is sent to this URI instead. */
  readonly seeOtherUri?: string
}

export class BoshSessionRegistry {
  readonly #deps: RegistryDeps
  readonly #sessions = new Map<string, BoshSession>()
  readonly #releases = new Map<string, () => void>()
  /** Sessions created over TLS (§19). */
  readonly #secureSids = new Set<string>()
  #shuttingDown = false

  constructor(deps: RegistryDeps) {
    this.#deps = deps
  }

  /** Sessions that can still answer (live or holding a last terminal body). */
  get size(): number {
    return this.#sessions.size
  }

  get(sid: string): BoshSession | undefined {
    return this.#sessions.get(sid)
  }

  /** Parse a request body with the configured limits. */
  parse(body: string | Uint8Array): BodyParseResult {
    return parseBody(body, { maxBodyBytes: this.#deps.options.maxBodyBytes, xml: this.#deps.xmlLimits })
  }

  /** Raw request body in, exactly one reply out through `responder`. */
  handleBody(body: string | Uint8Array, responder: BoshResponder, context: RequestContext): void {
    this.handleParsed(this.parse(body), responder, context)
  }

  handleParsed(result: BodyParseResult, responder: BoshResponder, context: RequestContext): void {
    if (result.ok) this.handle(result.request, responder, context)
    else this.handleFailure(result.failure, responder, context)
  }

  handle(request: BoshRequest, responder: BoshResponder, context: RequestContext): void {
    if (request.kind === 'create') {
      this.#create(request, responder, context)
      return
    }
    const session = this.#sessions.get(request.sid)
    if (!session) {
      // §17.2 item-not-found "(1) 'sid' is not valid"; §10: after inactivity "respond as if the session does not exist".
      this.#refuse(responder, 'unknown-sid', 'item-not-found', false)
      return
    }
    if (this.#insecureForSession(request.sid, responder, context)) return
    session.handleRequest(request, responder)
  }

  /** A body that did not parse: the session it names (if any) decides, else a bare terminal reply. */
  handleFailure(failure: BoshFailure, responder: BoshResponder, context?: RequestContext): void {
    const session = failure.sid === undefined ? undefined : this.#sessions.get(failure.sid)
    if (session && failure.sid !== undefined && context && this.#insecureForSession(failure.sid, responder, context)) return
    if (session) {
      session.reject(failure, responder)
      return
    }
    this.#refuse(responder, 'malformed-body', failure.condition, false)
  }

  /** §17.2 system-shutdown for every session; new ones are refused the same way. */
  shutdown(): void {
    this.#shuttingDown = true
    for (const session of [...this.#sessions.values()]) session.shutdown()
  }

  /** As `shutdown`, but every upstream stream is left resumable (BoshSession.handOff). */
  handOff(): void {
    this.#shuttingDown = true
    for (const session of [...this.#sessions.values()]) session.handOff()
  }

  #create(request: CreateRequest, responder: BoshResponder, context: RequestContext): void {
    const legacy = request.ver === undefined
    const { options } = this.#deps
    // §17.2 system-shutdown: "No new sessions can be created."
    if (this.#shuttingDown) return this.#refuse(responder, 'shutting-down', 'system-shutdown', legacy, request.content)
    // §17.2 see-other-uri: "The client can try POSTing to the URI in the content of the <uri/> child element."
    const seeOtherUri = this.#deps.seeOtherUri
    if (seeOtherUri !== undefined) return this.#refuse(responder, 'see-other-uri', 'see-other-uri', legacy, request.content, [uriPayload(seeOtherUri)])
    const negotiation = negotiate(request, options)
    if (!negotiation.ok) return this.#refuse(responder, 'invalid-creation', negotiation.failure.condition, legacy, request.content)
    const params = negotiation.params
    // §16.4: a stream we never opened is item-not-found (an empty body's 'stream' is ignored).
    if (request.stream !== undefined && (request.payload.length > 0 || request.from !== undefined || request.secure !== undefined)) {
      return this.#refuse(responder, 'invalid-creation', 'item-not-found', legacy, request.content)
    }
    const verdict = this.#deps.checkTarget?.(params.to, params.route) ?? 'ok'
    if (verdict !== 'ok') return this.#refuse(responder, 'target-refused', verdict, legacy, request.content)
    const admission = this.#deps.admit(context.ip)
    if (!admission.ok) {
      // Capacity is our failing, not the client's: internal-server-error "prevents it from servicing the request";
      // too many sessions from one address breaks our session rules: policy-violation.
      return admission.reason === 'max-sessions'
        ? this.#refuse(responder, 'max-sessions', 'internal-server-error', legacy, request.content)
        : this.#refuse(responder, 'max-sessions-per-ip', 'policy-violation', legacy, request.content)
    }
    const sid = this.#newSid()
    this.#releases.set(sid, admission.release)
    const io = this.#deps.equip({ sid, params, ip: context.ip, ...(context.connection !== undefined ? { connection: context.connection } : {}) })
    const session = new BoshSession({
      sid,
      params,
      options,
      clock: this.#deps.clock,
      hash: this.#deps.hash,
      upstream: io.upstream,
      ...(io.observer ? { observer: io.observer } : {}),
      ...(this.#deps.metrics ? { metrics: this.#deps.metrics } : {}),
      hooks: { disposed: () => this.#forget(sid) },
    })
    this.#sessions.set(sid, session)
    if (context.secure === true) this.#secureSids.add(sid)
    session.start(request, responder)
  }

  #newSid(): string {
    // A repeat from a sound 128-bit source never happens; a broken source must not hand out a live sid.
    for (let attempt = 0; attempt < 3; attempt++) {
      const sid = this.#deps.ids.next()
      if (sid.length > MAX_SID_LENGTH || !SID_PATTERN.test(sid)) throw new Error(`IdSource produced an unusable sid: ${JSON.stringify(sid)}`)
      if (!this.#sessions.has(sid)) return sid
    }
    throw new Error('IdSource keeps producing sids that are in use')
  }

  /**
   * §19: a session created over HTTPS is never served over plain HTTP. The
   * connection is closed without an answer, so nothing about the session
   * leaks, and the request does not count: the session carries on over HTTPS.
   */
  #insecureForSession(sid: string, responder: BoshResponder, context: RequestContext): boolean {
    if (!this.#secureSids.has(sid) || context.secure === true) return false
    this.#deps.metrics?.refused?.('insecure-request')
    if (responder.drop) responder.drop()
    else responder.respond({ status: 403, condition: 'policy-violation', contentType: DEFAULT_CONTENT_TYPE })
    return true
  }

  #forget(sid: string): void {
    if (!this.#sessions.delete(sid)) return
    this.#secureSids.delete(sid)
    this.#releases.get(sid)?.()
    this.#releases.delete(sid)
  }

  #refuse(responder: BoshResponder, reason: RefusalReason, condition: BoshCondition, legacy: boolean, contentType?: string, payload?: readonly Payload[]): void {
    this.#deps.metrics?.refused?.(reason, condition)
    responder.respond(terminalReply({ condition, legacy, contentType: contentType ?? DEFAULT_CONTENT_TYPE, ...(payload ? { payload } : {}) }))
  }
}
