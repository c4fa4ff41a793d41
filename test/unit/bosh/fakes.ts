/**
 * Recording fakes for BOSH core tests: one Wire logs, in order, every reply
 * and every call on the upstream port, so tests can assert exact content and
 * exact ordering across both sides.
 */
import { createHash } from 'node:crypto'
import type { Element } from 'ltx'
import { NS } from '../../../src/core/conditions.js'
import type { SessionEnd } from '../../../src/core/session-end.js'
import { XmlStreamReader } from '../../../src/core/xml/stream-reader.js'
import { XmlTokenizer } from '../../../src/core/xml/tokenizer.js'
import type { XmlElement } from '../../../src/core/xml/tokenizer.js'
import type { BoshRequest, CreateRequest, SessionRequest } from '../../../src/core/bosh/body.js'
import { parseBody } from '../../../src/core/bosh/body.js'
import { negotiate } from '../../../src/core/bosh/negotiate.js'
import type { BoshOptions } from '../../../src/core/bosh/options.js'
import type { BoshReply, BoshResponder } from '../../../src/core/bosh/reply.js'
import { BoshSession } from '../../../src/core/bosh/session.js'
import type { RouteVerdict, UpstreamHeader } from '../../../src/core/xmpp/upstream-port.js'
import { FakeConnector, FakeUpstream, Wire } from '../../support/fake-upstream.js'
import { BoshCounters, RecordingObserver } from '../../support/bosh-counters.js'
import { BODY_LIMITS, BOSH_OPTIONS, XML_LIMITS } from '../../support/limits.js'
import { ManualClock } from '../../support/manual-clock.js'

export const HTTPBIND = NS.httpbind
/** The wrapper's opening as buildBody writes it. */
export const BODY = `<body xmlns='${NS.httpbind}'`

const decoder = new TextDecoder()

export function sha1(input: string): string {
  return createHash('sha1').update(input).digest('hex')
}

/** K(1)…K(n) of XEP-0124 §15.3, returned as [K(n), K(n-1), …, K(1)]: the order a client uses them. */
export function keySequence(seed: string, n: number): string[] {
  const keys: string[] = []
  let k = sha1(seed)
  keys.push(k)
  for (let i = 1; i < n; i++) {
    k = sha1(k)
    keys.push(k)
  }
  return keys.reverse()
}

export { Wire }
export { FakeConnector, FakeUpstream } from '../../support/fake-upstream.js'

/** A responder that fails the test if answered twice and records the reply on the wire. */
export class RecordingResponder implements BoshResponder {
  readonly replies: BoshReply[] = []
  constructor(
    readonly label: string,
    private readonly wire?: Wire,
  ) {}

  respond(reply: BoshReply): void {
    if (this.replies.length > 0) throw new Error(`${this.label} answered twice`)
    this.replies.push(reply)
    this.wire?.log.push(`reply ${this.label} ${reply.status === 200 ? decoder.decode(reply.body) : `${reply.status} ${reply.condition}`}`)
  }

  get answered(): boolean {
    return this.replies.length > 0
  }

  get reply(): BoshReply {
    const reply = this.replies[0]
    if (!reply) throw new Error(`${this.label} not answered`)
    return reply
  }

  /** The 200 body as text; throws for a status reply. */
  get body(): string {
    const reply = this.reply
    if (reply.status !== 200) throw new Error(`${this.label} got HTTP ${reply.status}`)
    return decoder.decode(reply.body)
  }
}

/** Elements as the adapter's stream-mode reader hands them over (detached from <stream:stream>). */
export function upstreamElements(xml: string): Element[] {
  const reader = new XmlStreamReader('stream', XML_LIMITS)
  const events = reader.write(`<stream:stream xmlns='jabber:client' xmlns:stream='${NS.stream}' version='1.0'>${xml}`)
  const out: Element[] = []
  for (const event of events) {
    if (event.type === 'error') throw new Error(event.failure.text ?? event.failure.condition)
    if (event.type === 'element') out.push(event.element)
  }
  return out
}

/** Stanzas as the client-stream core hands them over: the bytes the server sent, framed. */
export function upstreamStanzas(xml: string): XmlElement[] {
  const out: XmlElement[] = []
  const tokenizer = new XmlTokenizer('stream', XML_LIMITS, {
    rootStart: () => {},
    element: (element) => out.push(element),
    rootEnd: () => {},
    error: (failure) => {
      throw new Error(failure.text ?? failure.condition)
    },
  })
  tokenizer.write(new TextEncoder().encode(`<stream:stream xmlns='jabber:client' xmlns:stream='${NS.stream}' version='1.0'>${xml}`))
  return out
}

export function upstreamElement(xml: string): Element {
  const [el] = upstreamElements(xml)
  if (!el) throw new Error('no element')
  return el
}

export function parse(xml: string): BoshRequest {
  const result = parseBody(xml, BODY_LIMITS)
  if (!result.ok) throw new Error(`unexpected parse failure: ${result.failure.condition} ${result.failure.text}`)
  return result.request
}

export function wrap(attrs: string, children = ''): string {
  return `<body xmlns='${HTTPBIND}' ${attrs}${children ? `>${children}</body>` : '/>'}`
}

export const FEATURES_XML = `<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`
/** How FEATURES_XML comes back out of ltx. */
export const FEATURES_OUT = `<stream:features><mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>PLAIN</mechanism></mechanisms></stream:features>`
export const HEADER: UpstreamHeader = { id: 'stream-1', from: 'example.com', version: '1.0', secure: true }

export interface HarnessOptions {
  readonly options?: Partial<BoshOptions>
  /** Attributes of the creation body (xmlns excluded). */
  readonly create?: string
  /** Children of the creation body. */
  readonly createPayload?: string
  readonly sid?: string
  /** What the connector answers for 'to' (default: every domain is routed). */
  readonly route?: RouteVerdict
}

export const DEFAULT_CREATE = `to='example.com' rid='100' wait='30' hold='1' ver='1.11' xml:lang='en' xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0'`

/** A session driven by hand: ManualClock, recording ports, coalescing off unless asked for. */
export class Harness {
  readonly clock = new ManualClock()
  readonly wire = new Wire()
  readonly upstream = new FakeUpstream(this.wire)
  readonly connector = new FakeConnector(this.upstream)
  readonly counters = new BoshCounters()
  readonly observer = new RecordingObserver()
  readonly ends: SessionEnd[] = []
  disposed = 0
  readonly options: BoshOptions
  readonly session: BoshSession
  readonly creation: RecordingResponder
  readonly sid: string

  constructor(init: HarnessOptions = {}) {
    this.options = { ...BOSH_OPTIONS, coalesceMs: 0, ...init.options }
    this.sid = init.sid ?? 'sid1'
    if (init.route) this.connector.verdict = init.route
    const request = parse(wrap(init.create ?? DEFAULT_CREATE, init.createPayload ?? '')) as CreateRequest
    const negotiation = negotiate(request, this.options)
    if (!negotiation.ok) throw new Error(`negotiation failed: ${negotiation.failure.condition}`)
    this.session = new BoshSession({
      sid: this.sid,
      params: negotiation.params,
      options: this.options,
      clock: this.clock,
      hash: sha1,
      upstream: this.connector,
      observer: this.observer,
      metrics: this.counters,
      hooks: {
        terminated: (end) => this.ends.push(end),
        disposed: () => {
          this.disposed += 1
        },
      },
    })
    this.creation = new RecordingResponder(`rid=${request.rid}`, this.wire)
    this.session.start(request, this.creation)
  }

  /** Upstream header + features (one read): the creation response goes out. */
  open(header: UpstreamHeader = HEADER, featuresXml = FEATURES_XML): void {
    this.session.upstreamOpened(header, upstreamElement(featuresXml))
    this.session.upstreamBatchEnd()
  }

  /** A request of this session; `attrs` must include rid. */
  send(attrs: string, children = '', label?: string): RecordingResponder {
    const request = parse(wrap(`sid='${this.sid}' ${attrs}`, children)) as SessionRequest
    const responder = new RecordingResponder(label ?? `rid=${request.rid}`, this.wire)
    this.session.handleRequest(request, responder)
    return responder
  }

  /** Stanzas from the server, arriving in one read. */
  fromServer(xml: string): void {
    for (const stanza of upstreamStanzas(xml)) this.session.upstreamStanza(stanza)
    this.session.upstreamBatchEnd()
  }

  /** Clear the wire log (after setup steps a test does not assert). */
  mark(): void {
    this.wire.log.length = 0
  }
}
