/**
 * WebSocketSession with the real ClientStream behind its port (only the
 * socket is fake): the port/sink contract end to end — what the client
 * sees, what the server gets, in one order.
 */
import t from 'tap'
import { WebSocketSession } from '../../../src/core/websocket/session.js'
import { ClientStream } from '../../../src/core/xmpp/client-stream.js'
import type { LinkInfo } from '../../../src/core/xmpp/client-stream.js'
import type { RouteVerdict, UpstreamConnector, UpstreamPort, UpstreamSink } from '../../../src/core/xmpp/upstream-port.js'
import { RecordingObserver } from '../../support/bosh-counters.js'
import { FakeLink } from '../../support/fake-link.js'
import { FakePeer } from '../../support/fake-peer.js'
import { Wire } from '../../support/fake-upstream.js'
import { ManualClock } from '../../support/manual-clock.js'
import { SETTINGS as STREAM_SETTINGS } from '../xmpp/fakes.js'
import { CLIENT_CLOSE, CLOSE, ERR_NS, FRAMING_NS, OPEN, SASL_NS, SETTINGS, STREAMS_NS, STREAM_ERROR , utf8 } from './fakes.js'

const LOOPBACK: LinkInfo = { encrypted: false, loopback: true, tlsRequired: false }
const PLAIN_REMOTE: LinkInfo = { encrypted: false, loopback: false, tlsRequired: false }
const OUR_HEADER = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS_NS}' to='example.com' version='1.0'>`
const SERVER_HEADER = (id: string) => `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS_NS}' from='example.com' id='${id}' version='1.0'>`
const TLS_NS = 'urn:ietf:params:xml:ns:xmpp-tls'

/** Routes every domain to a ClientStream over a FakeLink. */
class StreamConnector implements UpstreamConnector {
  stream: ClientStream | undefined
  link: FakeLink | undefined
  constructor(
    private readonly wire: Wire,
    private readonly clock: ManualClock,
  ) {}

  route(to: string | undefined): RouteVerdict {
    return to === undefined ? { ok: false, condition: 'improper-addressing', reason: 'no to' } : { ok: true, domain: to.toLowerCase() }
  }

  connect(sink: UpstreamSink): UpstreamPort {
    this.stream = new ClientStream(STREAM_SETTINGS, this.clock, sink, () => {
      this.link = new FakeLink(this.wire)
      return this.link
    })
    return this.stream
  }
}

class Pair {
  readonly clock = new ManualClock()
  readonly wire = new Wire()
  readonly peer = new FakePeer(this.wire)
  readonly observer = new RecordingObserver()
  readonly connector = new StreamConnector(this.wire, this.clock)
  readonly session = new WebSocketSession({ peer: this.peer, settings: SETTINGS, clock: this.clock, upstream: this.connector, observer: this.observer })

  get stream(): ClientStream {
    if (!this.connector.stream) throw new Error('no stream yet')
    return this.connector.stream
  }

  server(xml: string): void {
    this.stream.linkData(Buffer.from(xml, 'utf8'))
  }

  /** <open/>, the link up, the server's header and features: the client has its <open/> and features. */
  opened(): this {
    this.session.message(utf8(OPEN()))
    this.stream.linkUp(LOOPBACK)
    this.server(SERVER_HEADER('s1') + `<stream:features><mechanisms xmlns='${SASL_NS}'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`)
    this.wire.log.length = 0
    return this
  }
}

t.test('RFC 7395 §3.4, RFC 6120 §5.4.2: from <open/> to features through STARTTLS; the client sees one <open/>, no <starttls/>, and its early stanza leaves after the secured features', async (t) => {
  const p = new Pair()
  p.session.message(utf8(OPEN()))
  p.session.message(utf8(`<presence/>`))
  p.stream.linkUp(PLAIN_REMOTE)
  p.server(SERVER_HEADER('plain') + `<stream:features><starttls xmlns='${TLS_NS}'/></stream:features><proceed xmlns='${TLS_NS}'/>`)
  p.stream.linkSecured()
  p.server(SERVER_HEADER('secure') + `<stream:features><mechanisms xmlns='${SASL_NS}'><mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>`)
  t.same(p.wire.log, [
    'link connect',
    `link write ${OUR_HEADER}`,
    `link write <starttls xmlns='${TLS_NS}'/>`,
    'link starttls',
    `link write ${OUR_HEADER}`,
    `client <open xmlns='${FRAMING_NS}' from='example.com' id='secure' version='1.0'/>`,
    `client <stream:features xmlns:stream="${STREAMS_NS}"><mechanisms xmlns="${SASL_NS}"><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>`,
    'link write <presence/>',
  ])
})

t.test('RFC 6120 §6.4.6, RFC 7395 §3.5: SASL success is reported to the observer; the client’s second <open/> restarts the server stream', async (t) => {
  const p = new Pair().opened()
  p.server(`<success xmlns='${SASL_NS}'/>`)
  p.session.message(utf8(OPEN()))
  p.server(SERVER_HEADER('s2') + `<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>`)
  t.same(p.wire.log, [
    `client <success xmlns='${SASL_NS}'/>`,
    `link write ${OUR_HEADER}`,
    `client <open xmlns='${FRAMING_NS}' from='example.com' id='s2' version='1.0'/>`,
    `client <stream:features xmlns:stream="${STREAMS_NS}"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></stream:features>`,
  ])
  t.equal(p.observer.authentications, 1)
  t.equal(p.session.authenticated, true)
})

t.test('RFC 7395 §3.6: <close/> while the ClientStream is still connecting: closed from inside close(), answered with <close/> after the input', async (t) => {
  const p = new Pair()
  p.session.message(utf8(OPEN()))
  p.session.message(utf8(CLOSE))
  t.same(p.wire.log, ['link connect', 'link destroy', CLIENT_CLOSE])
  p.session.peerClosed()
  t.same(p.observer.ends, [{ reason: 'client-close' }])
  t.equal(p.clock.pending, 0)
})

t.test('RFC 7395 §3.6, RFC 6120 §4.4: <close/> on an open stream: our </stream:stream>, the server’s, then <close/> to the client', async (t) => {
  const p = new Pair().opened()
  p.session.message(utf8(CLOSE))
  p.server('</stream:stream>')
  t.same(p.wire.log, ['link write </stream:stream>', 'link end', CLIENT_CLOSE])
  p.session.peerClosed()
  t.same(p.observer.ends, [{ reason: 'client-close' }])
})

t.test(
  'RFC 7395 §3.6, RFC 6120 §4.4: <close/> while the server’s header is awaited ends with <close/>, not remote-connection-failed',
  async (t) => {
    const p = new Pair()
    p.session.message(utf8(OPEN()))
    p.stream.linkUp(LOOPBACK)
    p.session.message(utf8(CLOSE))
    p.server(SERVER_HEADER('s1') + `<stream:features/></stream:stream>`)
    t.same(p.wire.log, ['link connect', `link write ${OUR_HEADER}`, 'link write </stream:stream>', 'link end', CLIENT_CLOSE])
  },
)

t.test('XEP-0198 §5: a client that vanishes: the server connection is dropped without </stream:stream>', async (t) => {
  const p = new Pair().opened()
  p.session.peerClosed()
  t.same(p.wire.log, ['link destroy'])
  t.same(p.observer.ends, [{ reason: 'client-gone' }])
  t.equal(p.clock.pending, 0)
})

t.test('shutdown: our </stream:stream> to the server, its answer, then <close/> and close 1001 to the client', async (t) => {
  const p = new Pair().opened()
  p.session.shutdown()
  t.same(p.wire.log, ['link write </stream:stream>'])
  p.server('</stream:stream>')
  t.same(p.wire.log, ['link write </stream:stream>', 'link end', CLIENT_CLOSE, 'close 1001'])
  p.session.peerClosed()
  t.same(p.observer.ends, [{ reason: 'shutdown', condition: 'system-shutdown' }])
})

t.test('RFC 6120 §4.9.1.1: the server’s <stream:error> reaches the client byte for byte with xmlns:stream added', async (t) => {
  const p = new Pair().opened()
  p.server(`<stream:error><conflict xmlns='${ERR_NS}'/><text xmlns='${ERR_NS}' xml:lang='en'>Replaced by new connection</text></stream:error></stream:stream>`)
  t.same(p.wire.log, [
    'link write </stream:stream>',
    'link end',
    `client <stream:error xmlns:stream="${STREAMS_NS}"><conflict xmlns="${ERR_NS}"/><text xmlns="${ERR_NS}" xml:lang="en">Replaced by new connection</text></stream:error>`,
    CLIENT_CLOSE,
    'close 1000',
  ])
  p.session.peerClosed()
  t.same(p.observer.ends, [{ reason: 'upstream-error', condition: 'conflict' }])
})

t.test('a server that sends bad XML: it gets our stream error, the client gets remote-connection-failed', async (t) => {
  const p = new Pair().opened()
  p.server(`<message><body></message>`)
  t.same(p.wire.log, [
    `link write <stream:error xmlns:stream='${STREAMS_NS}'><not-well-formed xmlns='${ERR_NS}'/><text xmlns='${ERR_NS}'>end tag does not match start tag</text></stream:error></stream:stream>`,
    'link end',
    `client ${STREAM_ERROR('remote-connection-failed', 'the XMPP server sent bad XML')}`,
    CLIENT_CLOSE,
    'close 1000',
  ])
  p.session.peerClosed()
  t.same(p.observer.ends, [{ reason: 'upstream-failed', condition: 'remote-connection-failed', text: 'the XMPP server sent bad XML', detail: 'upstream XML: not-well-formed' }])
})
