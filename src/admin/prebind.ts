/**
 * Prebind: Causeway opens a BOSH session on behalf of a web application,
 * logs in and binds a resource upstream, and hands back `{ jid, sid, rid }`
 * for the user's browser to attach to (Strophe.js `attach()`, Converse.js
 * `authentication: 'prebind'` with `prebind_url`). The password stays on the
 * server side: the browser never sees it.
 *
 * The session is an ordinary BOSH session of the registry, driven here as a
 * client would drive it over HTTP (`BoshTransport.inject`): one request at
 * a time, each answered when the server speaks. `rid` in the result is the
 * one the browser's first request must carry (Strophe: "This RID will be
 * used by the next request"; Converse passes it to attach() unchanged).
 *
 * SASL: SCRAM-SHA-256, then SCRAM-SHA-1 (RFC 5802, RFC 7677; the server's
 * signature is verified), then PLAIN (RFC 4616) when nothing better is
 * offered. Nothing of the password or the SASL exchange is logged.
 */
import { randomBytes, randomInt } from 'node:crypto'
import { parse } from 'ltx'
import type { Element } from 'ltx'
import { NS } from '../core/conditions.js'
import type { BoshReply, BoshResponder } from '../core/bosh/reply.js'
import { escapeAttribute, escapeText } from '../core/xml/serialize.js'
import type { ScramMechanism } from './scram.js'
import { ScramClient, ScramError, plainMessage } from './scram.js'

const NS_SESSION = 'urn:ietf:params:xml:ns:xmpp-session'

/** Empty answers in a row (the server said nothing for a whole `wait`) before giving up. */
const MAX_SILENT_ANSWERS = 2
/** Requests one prebind may make: create, SASL (≤ 3), restart, bind, session, and the silent ones. */
const MAX_REQUESTS = 12
/** XEP-0124 §14.1: rid ≤ 2^53 − 1; start low enough that a long session never gets near it. */
const MAX_INITIAL_RID = 2 ** 32

export type PrebindOutcome =
  | { readonly ok: true; readonly jid: string; readonly sid: string; readonly rid: number; readonly mechanism: string }
  | { readonly ok: false; readonly result: 'auth-failed' | 'refused' | 'failed'; readonly status: number; readonly error: string; readonly condition?: string }

export interface PrebindRequest {
  /** `user@domain` or `user@domain/resource`. */
  readonly jid: string
  readonly password: string
  /** The end user's address, for maxSessionsPerIp and the logs; the caller's by default. */
  readonly ip: string
}

/** The BOSH endpoint as prebind uses it: one request in, one reply out. */
export interface BoshInjector {
  inject(body: string, responder: BoshResponder, ip: string): void
}

export interface PrebindDeps {
  readonly bosh: BoshInjector
  /** Whether Causeway serves this domain (the `upstream` rules). */
  readonly serves: (domain: string) => boolean
  /** The `wait` asked for at creation, seconds (what browsers will also expect). */
  readonly waitSeconds: number
}

class PrebindFailure extends Error {
  constructor(readonly outcome: Extract<PrebindOutcome, { ok: false }>) {
    super(outcome.error)
  }
}

function fail(result: 'auth-failed' | 'refused' | 'failed', status: number, error: string, condition?: string): never {
  throw new PrebindFailure({ ok: false, result, status, error, ...(condition !== undefined ? { condition } : {}) })
}

/** `local@domain[/resource]`, checked loosely (the server is the judge of the rest). */
export function parseJid(jid: string): { local: string; domain: string; resource: string | undefined } | undefined {
  const match = /^([^@/\s"&'<>:]{1,1023})@([^@/\s]{1,1023})(?:\/([^\s]{1,1023}))?$/u.exec(jid)
  if (!match) return undefined
  return { local: match[1] ?? '', domain: (match[2] ?? '').toLowerCase(), resource: match[3] }
}

/** One BOSH request, answered through the responder. */
function send(bosh: BoshInjector, body: string, ip: string): Promise<Element> {
  return new Promise((resolve, reject) => {
    const responder: BoshResponder = {
      respond: (reply: BoshReply) => {
        if (reply.status !== 200) {
          reject(new PrebindFailure({ ok: false, result: 'failed', status: 502, error: 'the BOSH session ended', condition: reply.condition }))
          return
        }
        try {
          resolve(parse(Buffer.from(reply.body).toString('utf8')))
        } catch {
          reject(new PrebindFailure({ ok: false, result: 'failed', status: 502, error: 'unreadable BOSH answer' }))
        }
      },
    }
    bosh.inject(body, responder, ip)
  })
}

function attrs(values: Record<string, string | number>): string {
  return Object.entries(values)
    .map(([name, value]) => ` ${name}='${escapeAttribute(String(value))}'`)
    .join('')
}

function mechanisms(features: Element): string[] {
  return features
    .getChild('mechanisms', NS.sasl)
    ?.getChildren('mechanism')
    .map((m) => m.getText().trim()) ?? []
}

/** Drives one prebind from creation to bound resource. */
class PrebindSession {
  #rid: number
  #sid: string | undefined
  #requests = 0

  constructor(
    private readonly deps: PrebindDeps,
    private readonly request: PrebindRequest,
    private readonly domain: string,
  ) {
    this.#rid = randomInt(1, MAX_INITIAL_RID)
  }

  get sid(): string | undefined {
    return this.#sid
  }

  get nextRid(): number {
    return this.#rid
  }

  /** Send a body with these extra attributes and children; the answer's wrapper. */
  async #post(extra: Record<string, string | number>, children = ''): Promise<Element> {
    if (++this.#requests > MAX_REQUESTS) fail('failed', 504, 'the XMPP server did not complete the login in time')
    const rid = this.#rid++
    const sid: Record<string, string> = this.#sid === undefined ? {} : { sid: this.#sid }
    const body = `<body xmlns='${NS.httpbind}' xmlns:xmpp='${NS.xbosh}'${attrs({ rid, ...sid, ...extra })}${children === '' ? '/>' : `>${children}</body>`}`
    const answer = await send(this.deps.bosh, body, this.request.ip)
    if (answer.attrs.type === 'terminate') {
      const condition = answer.attrs.condition
      fail('failed', condition === 'host-unknown' ? 403 : 502, `the session ended${condition ? ` (${condition})` : ''}`, condition)
    }
    return answer
  }

  /** The next child of interest: polls (empty requests) while the server is silent. */
  async #await(answer: Element, wanted: (child: Element) => boolean): Promise<Element> {
    let silent = 0
    for (;;) {
      const found = answer.getChildElements().find(wanted)
      if (found) return found
      if (++silent > MAX_SILENT_ANSWERS) fail('failed', 504, 'the XMPP server did not answer in time')
      answer = await this.#post({})
    }
  }

  async create(): Promise<Element> {
    const answer = await this.#post({ to: this.domain, 'xml:lang': 'en', wait: this.deps.waitSeconds, hold: 1, ver: '1.6', 'xmpp:version': '1.0' })
    this.#sid = answer.attrs.sid
    if (this.#sid === undefined) fail('failed', 502, 'no sid in the creation answer')
    return this.#await(answer, (child) => child.getName() === 'features')
  }

  /** SASL with the best mechanism offered; the mechanism's name. */
  async authenticate(features: Element, username: string): Promise<string> {
    const offered = mechanisms(features)
    const mechanism = (['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'] as const).find((m) => offered.includes(m))
    if (mechanism === undefined) fail('failed', 502, `no usable SASL mechanism offered (${offered.join(' ') || 'none'})`)
    const sasl = (name: string, text: string, attributes = '') => `<${name} xmlns='${NS.sasl}'${attributes}>${escapeText(text)}</${name}>`
    const isSasl = (child: Element) => child.getNS() === NS.sasl
    if (mechanism === 'PLAIN') {
      const result = await this.#await(await this.#post({}, sasl('auth', plainMessage(username, this.request.password), ` mechanism='PLAIN'`)), isSasl)
      this.#saslResult(result)
      return mechanism
    }
    const scram = new ScramClient(mechanism as ScramMechanism, username, this.request.password, randomBytes(18).toString('base64'))
    const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64')
    const text = (el: Element) => Buffer.from(el.getText().trim(), 'base64').toString('utf8')
    let reply = await this.#await(await this.#post({}, sasl('auth', b64(scram.first()), ` mechanism='${mechanism}'`)), isSasl)
    // SCRAM always challenges first: anything else is a failure (or a server that skipped the proof).
    if (reply.getName() !== 'challenge') {
      this.#saslResult(reply)
      fail('failed', 502, 'the server accepted SCRAM without a challenge')
    }
    let final: string
    try {
      final = await scram.final(text(reply))
    } catch (error) {
      if (error instanceof ScramError) fail('failed', 502, `SCRAM: ${error.message}`)
      throw error
    }
    reply = await this.#await(await this.#post({}, sasl('response', b64(final))), isSasl)
    if (reply.getName() === 'success' && !scram.verify(text(reply))) fail('failed', 502, 'the server could not prove it knows the password (SCRAM server signature)')
    this.#saslResult(reply)
    return mechanism
  }

  /** Returns on `<success/>`; throws for `<failure/>` (RFC 6120 §6.5) or anything else. */
  #saslResult(reply: Element): void {
    if (reply.getName() === 'success') return
    if (reply.getName() === 'failure') {
      const condition = reply.getChildElements().find((c) => c.getName() !== 'text')?.getName() ?? 'not-authorized'
      fail('auth-failed', 403, 'authentication failed', condition)
    }
    fail('failed', 502, `unexpected SASL answer <${reply.getName()}>`)
  }

  /** XEP-0206 §5 restart, then RFC 6120 §7 resource binding (and the legacy session, when required). */
  async bind(resource: string | undefined): Promise<string> {
    const features = await this.#await(await this.#post({ 'xmpp:restart': 'true', 'xml:lang': 'en', to: this.domain }), (c) => c.getName() === 'features')
    if (!features.getChild('bind', NS.bind)) fail('failed', 502, 'the server offered no resource binding')
    const id = `prebind-${randomBytes(6).toString('hex')}`
    const resourceXml = resource === undefined ? '' : `<resource>${escapeText(resource)}</resource>`
    const result = await this.#await(
      await this.#post({}, `<iq xmlns='${NS.client}' type='set' id='${id}'><bind xmlns='${NS.bind}'>${resourceXml}</bind></iq>`),
      (c) => c.getName() === 'iq' && c.attrs.id === id,
    )
    const jid = result.attrs.type === 'result' ? result.getChild('bind', NS.bind)?.getChildText('jid')?.trim() : undefined
    if (jid === undefined || jid === '') return fail('failed', 502, `resource binding failed (${result.getChildElements().find((c) => c.getName() === 'error')?.getChildElements()[0]?.getName() ?? 'no jid'})`)
    // RFC 3921 §3: some servers still require a session; RFC 6121 made it optional (<optional/>).
    const session = features.getChild('session', NS_SESSION)
    if (session && !session.getChild('optional')) {
      const sessionId = `${id}-session`
      const answer = await this.#await(
        await this.#post({}, `<iq xmlns='${NS.client}' type='set' id='${sessionId}'><session xmlns='${NS_SESSION}'/></iq>`),
        (c) => c.getName() === 'iq' && c.attrs.id === sessionId,
      )
      if (answer.attrs.type !== 'result') fail('failed', 502, 'session establishment failed')
    }
    return jid
  }

  /** XEP-0124 §13: end the session (after a failure), without waiting for much. */
  terminate(): void {
    if (this.#sid === undefined) return
    const body = `<body xmlns='${NS.httpbind}'${attrs({ rid: this.#rid++, sid: this.#sid, type: 'terminate' })}/>`
    this.deps.bosh.inject(body, { respond: () => {} }, this.request.ip)
  }
}

/** Log in and bind as `request.jid`; never throws for the caller's or the server's failings. */
export async function prebind(deps: PrebindDeps, request: PrebindRequest): Promise<PrebindOutcome> {
  const jid = parseJid(request.jid)
  if (!jid) return { ok: false, result: 'refused', status: 400, error: 'jid must be user@domain or user@domain/resource' }
  if (!deps.serves(jid.domain)) return { ok: false, result: 'refused', status: 403, error: `the domain ${jid.domain} is not served here (upstream)` }
  const session = new PrebindSession(deps, request, jid.domain)
  try {
    const features = await session.create()
    const mechanism = await session.authenticate(features, jid.local)
    const bound = await session.bind(jid.resource)
    return { ok: true, jid: bound, sid: session.sid ?? '', rid: session.nextRid, mechanism }
  } catch (error) {
    session.terminate()
    if (error instanceof PrebindFailure) return error.outcome
    return { ok: false, result: 'failed', status: 500, error: 'prebind failed' }
  }
}
