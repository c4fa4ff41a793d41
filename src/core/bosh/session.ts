/**
 * One BOSH session (XEP-0124 §7–§15, XEP-0206): a state machine between HTTP
 * requests, each answered exactly once through its BoshResponder, and one
 * upstream XMPP stream behind an UpstreamPort. Pure: time comes from the
 * Clock, SHA-1 from the injected `hash`, I/O from the ports.
 *
 *   connecting ──features──▶ open ──xmpp:restart──▶ restarting ──features──▶ open
 *        └────────────────────────┴──────────────────────┴──────▶ terminated
 */
import type { Element } from 'ltx'
import type { Clock, Timer } from '../clock.js'
import type { BoshCondition } from '../conditions.js'
import type { SessionEnd } from '../session-end.js'
import type { SessionObserver } from '../session-observer.js'
import type { XmlElement } from '../xml/tokenizer.js'
import type { UpstreamConnector, UpstreamEnd, UpstreamHeader, UpstreamPort, UpstreamSink } from '../xmpp/upstream-port.js'
import type { BoshFailure, BoshRequest, CreateRequest, SessionRequest } from './body.js'
import { HoldQueue } from './hold-queue.js'
import type { BoshMetrics } from './metrics.js'
import type { SessionParams } from './negotiate.js'
import { SECOND_MS, formatVersion } from './negotiate.js'
import type { BoshOptions } from './options.js'
import type { BodyAttrValue, BodyAttrs, Payload } from './payload.js'
import { buildBody, stanzaPayload, toPayload } from './payload.js'
import type { BoshReply, BoshResponder } from './reply.js'
import { okReply, recoverableReply, terminalReply } from './reply.js'
import { ResponseCache } from './response-cache.js'
import { RidWindow } from './rid-window.js'

export type SessionState = 'connecting' | 'open' | 'restarting' | 'terminated'

/** A BOSH session tells its client an XEP-0124 §17.2 condition, if any. */
type BoshEnd = SessionEnd & { readonly condition?: BoshCondition }

const TRANSITIONS: Readonly<Record<SessionState, readonly SessionState[]>> = {
  connecting: ['open', 'terminated'],
  open: ['restarting', 'terminated'],
  restarting: ['open', 'terminated'],
  terminated: [],
}

/**
 * §9.2: a client 'ack' older than our last response triggers an immediate
 * 'report' only once that response is at least this old, so an ack that
 * merely crossed a response in flight does not release a held request.
 */
export const ACK_REPORT_AFTER_MS = 1000

/**
 * §14.3: a client recovering from broken connections resends an unanswered
 * rid once per broken connection; more repeats of one rid than this are
 * abuse ("the connection manager MAY ... return a policy-violation").
 */
export const MAX_REPEATS_PER_RID = 4

export interface SessionHooks {
  /** The session ended; called once, before any upstream close. */
  terminated?(end: SessionEnd): void
  /** Nothing more will be answered for this sid: forget it. */
  disposed?(): void
}

export interface SessionDeps {
  readonly sid: string
  readonly params: SessionParams
  readonly options: BoshOptions
  readonly clock: Clock
  /** Lower-case hex SHA-1 (RFC 3174) for §15 keys; the adapter passes node:crypto. */
  readonly hash: (input: string) => string
  /** Where this session's XMPP stream comes from; the session is its sink. */
  readonly upstream: UpstreamConnector
  readonly observer?: SessionObserver
  readonly metrics?: BoshMetrics
  readonly hooks?: SessionHooks
}

/** Something owed exactly one reply. */
interface Outstanding {
  readonly rid: number
  responder: BoshResponder
}

interface Entry extends Outstanding {
  readonly request: BoshRequest
  readonly arrivedAt: number
  waitTimer?: Timer
  /** §14.3: how often this rid was sent again while unanswered. */
  repeats?: number
}

interface PreviousRequest {
  readonly rid: number
  readonly at: number
  readonly empty: boolean
  answeredEmpty?: boolean
}

interface TerminateOptions {
  /** The request that caused the end; it gets the condition, the others 'other-request'. */
  readonly trigger?: Outstanding
  /** Children of the terminal body (stanzas, <stream:error/>). */
  readonly payload?: readonly Payload[]
  readonly closeUpstream?: boolean
  /** With nobody to tell now, keep the terminal body for the client's next request. */
  readonly linger?: boolean
  /** A request being processed, not yet held, that is told like the held ones (the end was not its doing). */
  readonly include?: Outstanding
}

/** §11, §12: an "empty" request, as the polling rules count them. */
function isEmptyPoll(req: SessionRequest): boolean {
  return req.payload.length === 0 && !req.restart && !req.terminate && req.pause === undefined
}

export class BoshSession implements UpstreamSink {
  readonly sid: string
  readonly params: SessionParams
  #state: SessionState = 'connecting'
  readonly #options: BoshOptions
  readonly #clock: Clock
  readonly #hash: (input: string) => string
  readonly #metrics: BoshMetrics | undefined
  readonly #observer: SessionObserver | undefined
  readonly #hooks: SessionHooks | undefined
  readonly #window: RidWindow<Entry>
  readonly #held: HoldQueue<Entry>
  readonly #cache: ResponseCache
  readonly #connector: UpstreamConnector
  #port: UpstreamPort | undefined
  #started = false
  #disposed = false
  /** Upstream output waiting for a request to carry it. */
  #pending: Payload[] = []
  #pendingBytes = 0
  #header: UpstreamHeader | undefined
  /** authid/from/secure/xmpp:version still to go out with the first features (XEP-0206 §4). */
  #streamAttrsOwed = false
  /** §15: the key the next request's key must hash to. */
  #key: string | undefined
  #lastResponded: number
  #previous: PreviousRequest | undefined
  /** §10: inactivity period while paused, ms. */
  #pauseMs: number | undefined
  /** §9.2: 'report'/'time' for the next response. */
  #report: { readonly rid: number; readonly time: number } | undefined
  #authenticated = false
  #lingering: BoshReply | undefined
  #inactivityTimer: Timer | undefined
  #coalesceTimer: Timer | undefined
  #lingerTimer: Timer | undefined
  #busy = false
  readonly #inbox: (() => void)[] = []

  constructor(deps: SessionDeps) {
    this.sid = deps.sid
    this.params = deps.params
    this.#options = deps.options
    this.#clock = deps.clock
    this.#hash = deps.hash
    this.#metrics = deps.metrics
    this.#observer = deps.observer
    this.#hooks = deps.hooks
    this.#window = new RidWindow(deps.params.rid, deps.params.requests)
    this.#held = new HoldQueue(deps.params.hold)
    this.#cache = new ResponseCache(deps.params.requests)
    this.#key = deps.params.newkey
    this.#lastResponded = deps.params.rid - 1
    this.#connector = deps.upstream
  }

  get state(): SessionState {
    return this.#state
  }

  /** Requests currently held (§8). */
  get heldCount(): number {
    return this.#held.size
  }

  /** Bytes of upstream output waiting for a request. */
  get pendingBytes(): number {
    return this.#pendingBytes
  }

  /** SASL or SASL2 success seen on the upstream stream. */
  get authenticated(): boolean {
    return this.#authenticated
  }

  // ── inputs ────────────────────────────────────────────────────────────

  /** Begin with the creation request (§7.1); it is answered once the upstream features arrive (XEP-0206 §4). */
  start(request: CreateRequest, responder: BoshResponder): void {
    this.#run(() => {
      if (this.#started) throw new Error(`session ${this.sid} already started`)
      this.#started = true
      const entry = this.#entry(request, responder)
      this.#previous = { rid: entry.rid, at: entry.arrivedAt, empty: false }
      const verdict = this.#connector.route(this.params.to)
      if (!verdict.ok) {
        // The registry checks 'to' before it creates a session; this is the same rule, held once more.
        this.#terminate({ reason: 'bad-input', condition: verdict.condition, text: verdict.reason }, { trigger: entry })
        return
      }
      this.#hold(entry)
      const p = this.params
      this.#port = this.#connector.connect(this)
      this.#port.open({ to: verdict.domain, ...(p.lang !== undefined ? { lang: p.lang } : {}), ...(p.from !== undefined ? { from: p.from } : {}) })
      this.#sendUpstream(request.payload)
    })
  }

  /** Any later request of this session. */
  handleRequest(request: SessionRequest, responder: BoshResponder): void {
    this.#run(() => {
      if (!this.#started) throw new Error(`session ${this.sid} not started`)
      this.#onRequest(this.#entry(request, responder), request)
    })
  }

  /** A body for this sid that failed to parse or validate. */
  reject(failure: BoshFailure, responder: BoshResponder): void {
    this.#run(() => {
      const reply = terminalReply({ condition: failure.condition, legacy: this.params.legacy, contentType: this.params.contentType })
      switch (this.#state) {
        case 'terminated':
          responder.respond(reply)
          return
        case 'connecting':
        case 'open':
        case 'restarting':
          break
      }
      this.#terminate(
        { reason: 'bad-input', condition: failure.condition, text: failure.text },
        { trigger: { rid: Number.POSITIVE_INFINITY, responder }, closeUpstream: true },
      )
    })
  }

  upstreamOpened(header: UpstreamHeader, features: Element): void {
    this.#run(() => {
      switch (this.#state) {
        case 'open':
        case 'terminated':
          return
        case 'connecting':
        case 'restarting':
          break
      }
      if (this.params.secure && !header.secure) {
        // §7.1 'secure': the client asked for an encrypted server link we do not have.
        this.#port?.detach()
        this.#terminate(
          { reason: 'upstream-failed', condition: 'remote-connection-failed', text: 'the link to the XMPP server is not encrypted' },
          { linger: true },
        )
        return
      }
      this.#header = header
      this.#streamReady(features)
    })
  }

  upstreamStanza(stanza: XmlElement): void {
    this.#run(() => {
      if (this.#state === 'terminated') return
      this.#enqueueOutput(stanza)
    })
  }

  /** §8: what one read from the server brought goes out in one response. */
  upstreamBatchEnd(): void {
    this.#run(() => {
      if (this.#state === 'terminated') return
      this.#outputChanged()
    })
  }

  upstreamAuthenticated(): void {
    this.#run(() => {
      this.#authenticated = true
      this.#observer?.authenticated()
    })
  }

  upstreamAuthFailed(condition: string): void {
    this.#run(() => this.#observer?.authFailed?.(condition))
  }

  upstreamBound(jid: string): void {
    this.#run(() => this.#observer?.bound?.(jid))
  }

  upstreamWritable(): void {
    // A BOSH client cannot be paused mid-request: maxUnsentBytes bounds it instead.
  }

  upstreamClosed(end: UpstreamEnd): void {
    this.#run(() => {
      if (this.#state === 'terminated') return
      const payload = this.#takePending()
      switch (end.kind) {
        case 'closed':
          this.#terminate({ reason: 'upstream-closed' }, { payload, linger: true })
          return
        case 'stream-error':
          // XEP-0206 §7: "zero or more stanzas followed by a copy of the <stream:error/> element".
          this.#terminate(
            { reason: 'upstream-error', condition: 'remote-stream-error', text: end.condition },
            { payload: [...payload, toPayload(end.error)], linger: true },
          )
          return
        case 'failed':
          this.#observer?.upstreamFailed(end.cause, end.opened)
          this.#terminate(
            { reason: 'upstream-failed', condition: 'remote-connection-failed', text: end.text, ...(end.detail !== undefined ? { detail: end.detail } : {}) },
            { payload, linger: true },
          )
          return
        case 'auth-timeout':
          this.#terminate({ reason: 'auth-timeout', condition: 'policy-violation', text: 'authentication not completed in time' }, { payload, linger: true })
      }
    })
  }

  /**
   * An operator ends the session (admin API): every outstanding request gets
   * the condition (or the next request, if none is held), and the server's
   * stream is closed politely.
   */
  kill(condition: BoshCondition = 'policy-violation', text = 'session ended by the operator'): void {
    this.#run(() => {
      if (this.#state === 'terminated') return
      this.#terminate({ reason: 'killed', condition, text }, { closeUpstream: true, linger: true })
    })
  }

  /**
   * Hand-off shutdown (`shutdownHandoff`): the client hears system-shutdown
   * like any shutdown, but the upstream connection is dropped without
   * `</stream:stream>`, so the server keeps a XEP-0198 session to resume.
   */
  handOff(): void {
    this.#run(() => {
      if (this.#state === 'terminated') return
      const port = this.#port
      this.#terminate({ reason: 'handoff', condition: 'system-shutdown' })
      port?.detach()
    })
  }

  /** §17.2 system-shutdown: "All active HTTP sessions are being terminated". */
  shutdown(): void {
    this.#run(() => {
      if (this.#state === 'terminated') return
      this.#terminate({ reason: 'shutdown', condition: 'system-shutdown' }, { closeUpstream: true })
    })
  }

  // ── requests ──────────────────────────────────────────────────────────

  #onRequest(entry: Entry, req: SessionRequest): void {
    // §10: any request restarts the inactivity clock.
    this.#cancelInactivity()
    switch (this.#state) {
      case 'terminated':
        this.#answerAfterEnd(entry)
        return
      case 'connecting':
      case 'open':
      case 'restarting':
        break
    }
    const place = this.#window.classify(entry.rid)
    switch (place) {
      case 'beyond':
        // §14.2: a rid "greater than the values in the window ... MUST terminate the session".
        this.#terminate({ reason: 'rid-out-of-window', condition: 'item-not-found', text: `rid ${entry.rid} above the window` }, { trigger: entry, closeUpstream: true })
        return
      case 'seen':
        this.#repeat(entry)
        return
      case 'queued': {
        const queued = this.#window.find(entry.rid)
        if (queued && this.#repeatedTooOften(queued, entry)) return
        const displaced = this.#window.replace(entry.rid, entry)
        if (displaced) {
          entry.waitTimer = displaced.waitTimer
          entry.repeats = displaced.repeats
          this.#answerDisplaced(displaced.responder)
        }
        return
      }
      case 'next':
      case 'ahead':
        break
    }
    // §16.4: a stream name that "does not correspond to one of the session's open streams" → item-not-found;
    // on an empty body that carries no 'from'/'secure' the receiver "SHOULD ignore the attribute".
    if (req.stream !== undefined && (req.payload.length > 0 || req.terminate || req.from !== undefined || req.secure !== undefined)) {
      this.#terminate({ reason: 'unknown-stream', condition: 'item-not-found', text: 'multiple streams are not supported' }, { trigger: entry, closeUpstream: true })
      return
    }
    // §11: "the client MAY make one additional request if it is to pause or terminate a session".
    const allowed = this.params.requests + (req.pause !== undefined || req.terminate ? 1 : 0)
    if (this.#held.size + this.#window.queuedCount + 1 > allowed) {
      this.#terminate({ reason: 'overactivity', condition: 'policy-violation', text: 'too many simultaneous requests' }, { trigger: entry, closeUpstream: true })
      return
    }
    if (place === 'ahead') {
      this.#window.enqueue(entry.rid, entry)
      // A gap nobody fills would hold these requests forever; the client resends a lost
      // request within about 'wait' (§14.3), so allow that and the inactivity period.
      const rid = entry.rid
      entry.waitTimer = this.#timer(() => this.#gapExpired(rid), this.params.waitMs + this.params.inactivityMs)
      return
    }
    this.#window.accept(entry.rid)
    this.#process(entry, req)
    while (!this.#ended()) {
      const next = this.#window.takeNext()
      if (!next) break
      next.waitTimer?.cancel()
      next.waitTimer = undefined
      if (next.request.kind === 'session') this.#process(next, next.request)
    }
  }

  /** Requests queued behind a rid that never came cannot be answered in order (§14.2): the session ends. */
  #gapExpired(rid: number): void {
    if (this.#window.classify(rid) !== 'queued') return
    this.#terminate(
      { reason: 'rid-gap', condition: 'item-not-found', text: `rid ${this.#window.last + 1} never arrived` },
      { closeUpstream: true },
    )
  }

  /** §14.3: a rid already received. */
  #repeat(entry: Entry): void {
    const held = this.#held.find(entry.rid)
    if (held) {
      if (this.#repeatedTooOften(held, entry)) return
      // §14.3: "respond immediately to the existing request with a recoverable binding
      // condition ... and send any future response to the latest request".
      const displaced = held.responder
      held.responder = entry.responder
      this.#answerDisplaced(displaced)
      return
    }
    const cached = this.#cache.get(entry.rid)
    if (cached) {
      // §14.3: "return an HTTP 200 (OK) response that includes the buffered copy of the original XML response".
      this.#metrics?.retransmission?.()
      entry.responder.respond(okReply(cached.body, this.params.contentType))
      return
    }
    // §14.3: "If the original response is not available ... MUST return an 'item-not-found' terminal binding error".
    this.#terminate({ reason: 'response-unavailable', condition: 'item-not-found', text: `no buffered response for rid ${entry.rid}` }, { trigger: entry, closeUpstream: true })
  }

  /** §14.3: one more copy of an unanswered rid; false once a client repeats it more than recovery needs. */
  #repeatedTooOften(original: Entry, copy: Entry): boolean {
    original.repeats = (original.repeats ?? 0) + 1
    if (original.repeats <= MAX_REPEATS_PER_RID) return false
    this.#terminate({ reason: 'rid-repeated', condition: 'policy-violation', text: `rid ${copy.rid} repeated ${original.repeats} times` }, { trigger: copy, closeUpstream: true })
    return true
  }

  /** A request in rid order (§14.2). */
  #process(entry: Entry, req: SessionRequest): void {
    if (this.#key !== undefined) {
      // §15.4: "If the values do not match ... MUST NOT process the element, MUST terminate the session".
      if (req.key === undefined || this.#hash(req.key).toLowerCase() !== this.#key.toLowerCase()) {
        this.#terminate({ reason: 'bad-key', condition: 'item-not-found', text: 'key sequence broken' }, { trigger: entry, closeUpstream: true })
        return
      }
      this.#key = req.key
    }
    // §15.5: 'newkey' starts a new sequence.
    if (req.newkey !== undefined) this.#key = req.newkey
    // §10: "set the maximum inactivity period back to normal upon reception of the next request".
    this.#pauseMs = undefined
    const empty = isEmptyPoll(req)
    if (empty && this.#tooFrequent(entry)) {
      this.#terminate({ reason: 'too-frequent', condition: 'policy-violation', text: 'requests faster than the polling interval' }, { trigger: entry, closeUpstream: true })
      return
    }
    this.#previous = { rid: entry.rid, at: entry.arrivedAt, empty }
    if (this.params.acks && req.ack !== undefined) this.#clientAck(req.ack)
    if (req.pause !== undefined && (this.params.maxPauseMs === 0 || req.pause * SECOND_MS > this.params.maxPauseMs)) {
      this.#terminate({ reason: 'pause-too-long', condition: 'policy-violation', text: `pause ${req.pause}s above maxpause` }, { trigger: entry, closeUpstream: true })
      return
    }
    if (req.restart && this.#state !== 'open') {
      this.#terminate({ reason: 'bad-input', condition: 'bad-request', text: `restart while ${this.#state}` }, { trigger: entry, closeUpstream: true })
      return
    }
    // §8: "MUST forward the content from different requests in the order specified by their 'rid' attributes".
    this.#sendUpstream(req.payload, entry)
    if (this.#ended()) return
    if (req.terminate) {
      // §13: payloads first ("to ensure graceful logoff"), then the earlier requests in rid order, then the end.
      for (const held of this.#held.drain()) this.#reply(held)
      this.#terminate({ reason: 'client-close', text: req.condition }, { trigger: entry, closeUpstream: true })
      return
    }
    if (req.restart) {
      // XEP-0206 §5: the CM "SHOULD then initiate a new stream"; the features answer this request.
      this.#setState('restarting')
      this.#port?.restart()
    }
    if (req.pause !== undefined) {
      this.#pause(entry, req.pause)
      return
    }
    this.#hold(entry)
    // §9.2: the report goes out "immediately instead of waiting until it has payloads".
    if (this.#report !== undefined) {
      const oldest = this.#held.shift()
      if (oldest) this.#reply(oldest)
    }
  }

  /** §11 (requests > 0 held) and §12 (polling sessions): empty requests closer together than 'polling'. */
  #tooFrequent(entry: Entry): boolean {
    const previous = this.#previous
    if (!previous || !previous.empty || this.params.pollingMs === 0) return false
    if (entry.arrivedAt - previous.at >= this.params.pollingMs) return false
    // §12: "... and if the connection manager's response to the first request contained no payloads".
    if (this.params.hold === 0) return previous.answeredEmpty === true
    // §11: a run of 'requests' new requests none of which has been answered yet.
    return this.#held.size + 1 >= this.params.requests
  }

  /** §9.2 response acknowledgements from the client. */
  #clientAck(ack: number): void {
    if (ack < this.#lastResponded) {
      const missing = this.#cache.get(ack + 1)
      if (missing) {
        const age = this.#clock.now() - missing.sentAt
        // "SHOULD include a 'report' attribute set to one greater than the 'ack' ... and a 'time' attribute".
        if (age >= ACK_REPORT_AFTER_MS) this.#report = { rid: ack + 1, time: age }
      }
    }
    this.#cache.forgetThrough(ack)
  }

  /** §10: "respond immediately to all pending requests (including the pause request)". */
  #pause(entry: Entry, seconds: number): void {
    for (const held of this.#held.drain()) this.#reply(held)
    // "The response to the pause request MUST NOT contain any payloads"; §14.3 buffers only non-pause responses.
    this.#reply(entry, { payload: false, cache: false })
    this.#pauseMs = seconds * SECOND_MS
  }

  /** §8: keep the request, releasing the oldest beyond 'hold' so responses stay in rid order. */
  #hold(entry: Entry): void {
    if (this.#held.size > 0 && this.#deliverable()) {
      const oldest = this.#held.shift()
      if (oldest) this.#reply(oldest)
    }
    const released = this.#held.push(entry)
    for (const old of released) this.#reply(old)
    if (released.includes(entry)) return
    entry.waitTimer = this.#timer(() => this.#waitExpired(entry), this.params.waitMs)
    entry.responder.whenGone?.(() => this.#run(() => this.#abandoned(entry)))
    if (this.#deliverable()) {
      const oldest = this.#held.shift()
      if (oldest) this.#reply(oldest)
    }
  }

  /**
   * A held request whose connection closed: answer it empty at once (into
   * the response cache, so a retransmission of its rid still gets a reply)
   * and keep the pending stanzas for a request someone is waiting on.
   * mod_bosh does the same; otherwise the next stanza would be written into
   * a dead connection, and a client that carries on with the next rid (a
   * page reload restoring the session) would never see it.
   */
  #abandoned(entry: Entry): void {
    if (this.#state === 'terminated' || !this.#held.remove(entry)) return
    this.#reply(entry, { payload: false })
  }

  /** §8: "SHOULD NOT wait longer than the time specified by the client in the 'wait' attribute". */
  #waitExpired(entry: Entry): void {
    entry.waitTimer = undefined
    for (const held of this.#held.takeThrough(entry.rid)) this.#reply(held)
  }

  /** §14.3, §17.3: the older copy of a repeated rid gets a recoverable `type='error'`; the newer one gets the response. */
  #answerDisplaced(responder: BoshResponder): void {
    responder.respond(recoverableReply(this.params.contentType))
  }

  #answerAfterEnd(entry: Entry): void {
    const lingering = this.#lingering
    if (lingering) {
      this.#lingering = undefined
      this.#lingerTimer?.cancel()
      this.#lingerTimer = undefined
      entry.responder.respond(lingering)
      this.#dispose()
      return
    }
    entry.responder.respond(terminalReply({ condition: 'item-not-found', legacy: this.params.legacy, contentType: this.params.contentType }))
  }

  // ── responses ─────────────────────────────────────────────────────────

  /** Answer one request with everything deliverable; every 200 of a live session goes through here. */
  #reply(entry: Entry, options: { readonly payload?: boolean; readonly cache?: boolean } = {}): void {
    entry.waitTimer?.cancel()
    entry.waitTimer = undefined
    const payload = options.payload === false || !this.#deliverable() ? [] : this.#takePending()
    const creation = entry.request.kind === 'create'
    const withStream = this.#streamAttrsOwed && (creation || payload.length > 0)
    if (withStream) this.#streamAttrsOwed = false
    const attrs: Record<string, BodyAttrValue> = creation ? { ...this.#creationAttrs(withStream) } : withStream ? { ...this.#streamAttrs() } : {}
    // §9.1: ack is "the value of the highest 'rid' ... received ... [with] all requests with lower 'rid' values",
    // but "SHOULD NOT include an 'ack' ... if the value would be the 'rid' of the request being responded to".
    if (!creation && this.params.acks && this.#window.last !== entry.rid) attrs.ack = this.#window.last
    if (this.#report !== undefined && options.payload !== false) {
      attrs.report = this.#report.rid
      attrs.time = this.#report.time
      this.#report = undefined
    }
    const body = buildBody(attrs, payload)
    if (options.cache !== false) this.#cache.put(entry.rid, body, this.#clock.now())
    if (entry.rid > this.#lastResponded) this.#lastResponded = entry.rid
    if (this.#previous?.rid === entry.rid) this.#previous.answeredEmpty = payload.length === 0
    entry.responder.respond(okReply(body, this.params.contentType))
  }

  /** §7.2 session creation response attributes, plus XEP-0206 §4 ones. */
  #creationAttrs(withStream: boolean): BodyAttrs {
    const p = this.params
    return {
      sid: this.sid,
      // §7.2: times travel in whole seconds.
      wait: p.waitMs / SECOND_MS,
      requests: p.requests,
      hold: p.hold,
      inactivity: p.inactivityMs / SECOND_MS,
      polling: p.pollingMs / SECOND_MS,
      maxpause: p.maxPauseMs > 0 ? p.maxPauseMs / SECOND_MS : undefined,
      ver: formatVersion(p.ver),
      // §7.2: ack "set to the value of the 'rid' attribute of the session creation request".
      ack: p.acks ? p.rid : undefined,
      ...(withStream ? this.#streamAttrs() : { 'xmpp:version': '1.0' }),
      'xmpp:restartlogic': 'true',
    }
  }

  /** §7.2 'from'/'secure' and XEP-0206 §4 'authid'/'xmpp:version', "as soon as they are available". */
  #streamAttrs(): BodyAttrs {
    const header = this.#header
    return {
      from: header?.from ?? this.params.to,
      secure: header?.secure ? 'true' : undefined,
      authid: header?.id,
      'xmpp:version': header?.version ?? '1.0',
    }
  }

  // ── upstream output ───────────────────────────────────────────────────

  #streamReady(features: Element): void {
    const wasConnecting = this.#state === 'connecting'
    this.#setState('open')
    const payload = toPayload(features)
    this.#pending.unshift(payload)
    this.#pendingBytes += payload.bytes.length
    if (wasConnecting) {
      this.#streamAttrsOwed = true
      const first = this.#held.peek()
      if (first?.request.kind === 'create') {
        this.#held.shift()
        this.#reply(first)
        return
      }
    }
    this.#outputChanged()
  }

  /** Client payloads for the server, in order; a server that stops taking them ends the session. */
  #sendUpstream(elements: readonly XmlElement[], current?: Outstanding): void {
    const port = this.#port
    if (!port || elements.length === 0) return
    for (const element of elements) {
      this.#observer?.relayed('to_upstream', element, element.bytes.length)
      port.send(element.bytes)
    }
    // A BOSH client cannot be paused, so a server that stops reading gets a hard cap as well as the stream's drain deadline.
    if (port.bufferedBytes > this.#options.maxUnsentBytes) {
      port.detach()
      this.#terminate(
        { reason: 'upstream-failed', condition: 'remote-connection-failed', text: 'upstream stopped reading', detail: `${port.bufferedBytes} bytes unsent` },
        current ? { include: current, linger: true } : { linger: true },
      )
    }
  }

  #enqueueOutput(stanza: XmlElement): void {
    const payload = stanzaPayload(stanza)
    this.#observer?.relayed('to_client', stanza, payload.bytes.length)
    this.#pending.push(payload)
    this.#pendingBytes += payload.bytes.length
    // A burst goes out at the end of the read that brought it (upstreamBatchEnd), unless it already fills a response.
    if (this.#pendingBytes >= this.#options.maxPendingBytes) this.#outputChanged()
  }

  /** Stanzas can go out only on an open (or restarting) stream; the creation response waits for features. */
  #deliverable(): boolean {
    return this.#pending.length > 0 && (this.#state === 'open' || this.#state === 'restarting')
  }

  #outputChanged(): void {
    if (this.#pending.length === 0) return
    if (this.#held.size === 0 || !this.#deliverable()) {
      if (this.#pendingBytes > this.#options.maxPendingBytes) {
        this.#pending = []
        this.#pendingBytes = 0
        this.#terminate(
          { reason: 'pending-overflow', condition: 'policy-violation', text: `more than ${this.#options.maxPendingBytes} bytes waiting for a request` },
          { closeUpstream: true, linger: true },
        )
      }
      return
    }
    // §8: answer "as soon as possible after receiving" payloads: now, at the end of the read, or after boshCoalesceMs.
    if (this.#options.coalesceMs === 0 || this.#pendingBytes >= this.#options.maxPendingBytes) {
      this.#flush()
      return
    }
    this.#coalesceTimer ??= this.#timer(() => {
      this.#coalesceTimer = undefined
      this.#flush()
    }, this.#options.coalesceMs)
  }

  #flush(): void {
    this.#coalesceTimer?.cancel()
    this.#coalesceTimer = undefined
    if (!this.#deliverable()) return
    const oldest = this.#held.shift()
    if (oldest) this.#reply(oldest)
  }

  #takePending(): Payload[] {
    const pending = this.#pending
    this.#pending = []
    this.#pendingBytes = 0
    this.#coalesceTimer?.cancel()
    this.#coalesceTimer = undefined
    return pending
  }

  // ── the end ───────────────────────────────────────────────────────────

  /** The one terminate path: every outstanding request is answered, in rid order (§14.2). */
  #terminate(end: BoshEnd, options: TerminateOptions = {}): void {
    if (this.#state === 'terminated') return
    this.#setState('terminated')
    for (const timer of [this.#inactivityTimer, this.#coalesceTimer]) timer?.cancel()
    this.#inactivityTimer = this.#coalesceTimer = undefined
    this.#pending = []
    this.#pendingBytes = 0
    const entries = [...this.#held.drain(), ...this.#window.drain()]
    for (const entry of entries) entry.waitTimer?.cancel()
    const outstanding: Outstanding[] = entries
    const trigger = options.trigger
    if (trigger && !outstanding.includes(trigger)) outstanding.push(trigger)
    if (options.include && !outstanding.includes(options.include)) outstanding.push(options.include)
    outstanding.sort((a, b) => a.rid - b.rid)
    const base = { legacy: this.params.legacy, contentType: this.params.contentType }
    const payload = options.payload ?? []
    if (trigger) {
      // §17.2 other-request: "Another request being processed at the same time as this request caused the session to terminate".
      for (const o of outstanding) {
        o.responder.respond(o === trigger ? terminalReply({ ...base, condition: end.condition, payload }) : terminalReply({ ...base, condition: 'other-request' }))
      }
    } else {
      outstanding.forEach((o, i) => o.responder.respond(terminalReply({ ...base, condition: end.condition, payload: i === 0 ? payload : [] })))
      if (outstanding.length === 0 && options.linger) {
        this.#lingering = terminalReply({ ...base, condition: end.condition, payload })
        this.#lingerTimer = this.#timer(() => {
          this.#lingerTimer = undefined
          this.#lingering = undefined
          this.#dispose()
        }, this.params.inactivityMs)
      }
    }
    this.#observer?.ended(end)
    this.#hooks?.terminated?.(end)
    if (options.closeUpstream) this.#port?.close()
    if (!this.#lingering) this.#dispose()
  }

  /** Read through a method: handlers called in between may have ended the session. */
  #ended(): boolean {
    return this.#state === 'terminated'
  }

  #dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    this.#hooks?.disposed?.()
  }

  // ── plumbing ──────────────────────────────────────────────────────────

  /** The one place the state changes. */
  #setState(next: SessionState): void {
    if (!TRANSITIONS[this.#state].includes(next)) throw new Error(`BOSH session ${this.sid}: ${this.#state} → ${next} is not a transition`)
    this.#state = next
  }

  #entry(request: BoshRequest, responder: BoshResponder): Entry {
    return { rid: request.rid, request, responder, arrivedAt: this.#clock.now() }
  }

  #timer(callback: () => void, delayMs: number): Timer {
    return this.#clock.setTimeout(() => this.#run(callback), delayMs)
  }

  #cancelInactivity(): void {
    this.#inactivityTimer?.cancel()
    this.#inactivityTimer = undefined
  }

  /** §10: the inactivity clock runs only while the CM "has responded to all the requests it has received". */
  #updateInactivity(): void {
    if (this.#state === 'terminated') return
    if (this.#held.size > 0 || this.#window.queuedCount > 0) {
      this.#cancelInactivity()
      return
    }
    this.#inactivityTimer ??= this.#timer(() => {
      this.#inactivityTimer = undefined
      // §10: "terminate the session without informing the client".
      this.#terminate({ reason: 'inactivity' }, { closeUpstream: true })
    }, this.#pauseMs ?? this.params.inactivityMs)
  }

  /**
   * Run one input to completion. Inputs that arrive while another runs (an
   * adapter calling back synchronously) wait their turn, so each handler
   * sees a settled state.
   */
  #run(task: () => void): void {
    if (this.#busy) {
      this.#inbox.push(task)
      return
    }
    this.#busy = true
    const heldBefore = this.#held.size
    try {
      task()
      for (let next = this.#inbox.shift(); next; next = this.#inbox.shift()) next()
      this.#updateInactivity()
    } finally {
      this.#busy = false
      const delta = this.#held.size - heldBefore
      if (delta !== 0) this.#metrics?.heldRequests?.(delta)
    }
  }
}
