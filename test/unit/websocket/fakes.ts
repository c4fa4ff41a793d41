/**
 * A WebSocketSession driven by hand for its tests: ManualClock, a recording
 * peer (the client's WebSocket) and a recording upstream port on one Wire,
 * the default configuration's settings, and the server's elements as the
 * ClientStream hands them over.
 */
import type { Element } from 'ltx'
import { DEFAULT_CONFIG } from '../../../src/config/index.js'
import { webSocketSettings } from '../../../src/config/settings.js'
import { NS } from '../../../src/core/conditions.js'
import { WebSocketSession } from '../../../src/core/websocket/session.js'
import type { WebSocketSessionSettings } from '../../../src/core/websocket/session.js'
import { XmlTokenizer } from '../../../src/core/xml/tokenizer.js'
import type { XmlElement } from '../../../src/core/xml/tokenizer.js'
import { XmlStreamReader } from '../../../src/core/xml/stream-reader.js'
import { clientVisibleFeatures } from '../../../src/core/xmpp/stream-features.js'
import type { UpstreamHeader } from '../../../src/core/xmpp/upstream-port.js'
import { RecordingObserver } from '../../support/bosh-counters.js'
import { FakePeer } from '../../support/fake-peer.js'
import { FakeConnector, FakeUpstream, Wire } from '../../support/fake-upstream.js'
import { XML_LIMITS } from '../../support/limits.js'
import { ManualClock } from '../../support/manual-clock.js'

export const FRAMING_NS = NS.framing
export const STREAMS_NS = NS.stream
export const ERR_NS = NS.streams
export const SASL_NS = NS.sasl

/** The settings a default-configured server gives its WebSocket sessions. */
export const SETTINGS: WebSocketSessionSettings = webSocketSettings(DEFAULT_CONFIG)

/** RFC 7395 §3.4: the client's <open/>. */
export const OPEN = (attrs = "to='example.com'") => `<open xmlns='${FRAMING_NS}' ${attrs} version='1.0'/>`
/** RFC 7395 §3.6: <close/>, exactly as Causeway writes it. */
export const CLOSE = `<close xmlns='${FRAMING_NS}'/>`
/** `client <close/>` on the wire log. */
export const CLIENT_CLOSE = `client ${CLOSE}`

/** The upstream header of the first stream. */
export const HEADER: UpstreamHeader = { from: 'example.com', id: 's1', version: '1.0', lang: 'en', secure: true }
/** The <open/> the client gets for HEADER. */
export const OPENED = `<open xmlns='${FRAMING_NS}' from='example.com' id='s1' version='1.0' xml:lang='en'/>`
/** The <open/> Causeway sends when it must open a stream only to end it (RFC 6120 §4.9.1.2). */
export const BARE_OPEN = (from?: string) => `<open xmlns='${FRAMING_NS}'${from === undefined ? '' : ` from='${from}'`} version='1.0'/>`

export const FEATURES_XML = `<stream:features><mechanisms xmlns='${SASL_NS}'><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>`
/** How the client gets FEATURES_XML: a standalone message with xmlns:stream (RFC 7395 §3.3.3). */
export const FEATURES_OUT = `<stream:features xmlns:stream="${STREAMS_NS}"><mechanisms xmlns="${SASL_NS}"><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>`

/** RFC 6120 §4.9.2: a stream error as Causeway writes it to the client. */
export const STREAM_ERROR = (condition: string, text?: string) =>
  `<stream:error xmlns:stream='${STREAMS_NS}'><${condition} xmlns='${ERR_NS}'/>${text === undefined ? '' : `<text xmlns='${ERR_NS}'>${text}</text>`}</stream:error>`

/** Elements as the ClientStream hands them over: read from a server stream, detached from <stream:stream>. */
export function serverElements(xml: string): Element[] {
  const reader = new XmlStreamReader('stream', XML_LIMITS)
  const events = reader.write(`<stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS_NS}' version='1.0'>${xml}`)
  const out: Element[] = []
  for (const event of events) {
    if (event.type === 'error') throw new Error(event.failure.text ?? event.failure.condition)
    if (event.type === 'element') out.push(event.element)
  }
  return out
}

/** Stanzas as the ClientStream hands them over: the server's bytes, framed. */
export function serverStanzas(xml: string): XmlElement[] {
  const out: XmlElement[] = []
  const tokenizer = new XmlTokenizer('stream', XML_LIMITS, {
    rootStart: () => {},
    element: (element) => out.push(element),
    rootEnd: () => {},
    error: (failure) => {
      throw new Error(failure.text ?? failure.condition)
    },
  })
  tokenizer.write(utf8(`<stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS_NS}' version='1.0'>${xml}`))
  return out
}

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

export function serverElement(xml: string): Element {
  const [element] = serverElements(xml)
  if (!element) throw new Error('no element')
  return element
}

/** Features as the ClientStream reports them (the client-visible copy). */
export function features(xml = FEATURES_XML): Element {
  return clientVisibleFeatures(serverElement(xml))
}

export class SessionHarness {
  readonly clock = new ManualClock()
  readonly wire = new Wire()
  readonly peer = new FakePeer(this.wire)
  readonly upstream: FakeUpstream
  readonly connector: FakeConnector
  readonly observer = new RecordingObserver()
  readonly settings: WebSocketSessionSettings
  readonly session: WebSocketSession

  constructor(settings: Partial<WebSocketSessionSettings> = {}, upstream?: (wire: Wire) => FakeUpstream) {
    this.settings = { ...SETTINGS, ...settings }
    this.upstream = upstream ? upstream(this.wire) : new FakeUpstream(this.wire)
    this.connector = new FakeConnector(this.upstream)
    this.session = new WebSocketSession({ peer: this.peer, settings: this.settings, clock: this.clock, upstream: this.connector, observer: this.observer })
  }

  /** One text message from the client. */
  client(text: string): void {
    this.session.message(utf8(text))
  }

  /** The upstream stream (re)opened. */
  serverOpens(header: UpstreamHeader = HEADER, featuresXml = FEATURES_XML): void {
    this.session.upstreamOpened(header, features(featuresXml))
  }

  /** Stanzas from the server in one read: each handed over, then the end of the batch. */
  fromServer(xml: string): void {
    for (const stanza of serverStanzas(xml)) this.session.upstreamStanza(stanza)
    this.session.upstreamBatchEnd()
  }

  /** <open/> sent and the upstream stream open: the client has its <open/> and features; the log is cleared. */
  opened(): this {
    this.client(OPEN())
    this.serverOpens()
    this.mark()
    return this
  }

  /** Clear the wire log (after setup steps a test does not assert). */
  mark(): void {
    this.wire.log.length = 0
  }
}

/** A port that reports `closed` from inside close(), as ClientStream does before its stream exists. */
export class ClosingAtOnceUpstream extends FakeUpstream {
  override close(): void {
    super.close()
    this.sink?.upstreamClosed({ kind: 'closed' })
  }
}
