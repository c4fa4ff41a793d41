/**
 * ClientStream: every way a stream ends — the close handshake both ways,
 * stream errors in and out, each failure cause, the connect and drain
 * deadlines, detach() — and that nothing happens after the end.
 */
import t from 'tap'
import { serialize } from '../../../src/core/xml/serialize.js'
import { LINGER_AFTER_END_MS } from '../../../src/core/xmpp/client-stream.js'
import type { UpstreamFailureCause } from '../../../src/core/xmpp/upstream-port.js'
import { ERR_NS, FEATURES_PLAIN, FEATURES_STARTTLS, LOOPBACK, OUR_CLOSE, PLAIN_REMOTE, STREAMS_NS, StreamHarness, TLS_NS, serverHeader , utf8 } from './fakes.js'

const MSG = `<message xmlns="jabber:client" to="b@example.com"><body>hi</body></message>`
const CONFLICT = `<stream:error><conflict xmlns='${ERR_NS}'/><text xmlns='${ERR_NS}'>Replaced by new connection</text></stream:error>`
const CONFLICT_OUT = `<stream:error><conflict xmlns="${ERR_NS}"/><text xmlns="${ERR_NS}">Replaced by new connection</text></stream:error>`
/** Our stream error to a server that broke the XML rules, as written. */
const OUR_ERROR = (condition: string, text?: string) =>
  `<stream:error xmlns:stream='${STREAMS_NS}'><${condition} xmlns='${ERR_NS}'/>${text === undefined ? '' : `<text xmlns='${ERR_NS}'>${text}</text>`}</stream:error>`

// ── the close handshake ──────────────────────────────────────────────────

t.test('RFC 6120 §4.4: close() sends </stream:stream> and waits; the server’s close tag completes it; the link lingers, then is destroyed', async (t) => {
  const h = new StreamHarness().opened()
  h.stream.close()
  t.equal(h.stream.state, 'closing')
  t.equal(h.stream.send(utf8(MSG)), true, 'client data after our close tag is dropped')
  h.stream.close()
  t.same(h.wire.log, [`link write ${OUR_CLOSE}`], 'one close tag, nothing after it')
  h.server('</stream:stream>')
  t.same(h.wire.log, [`link write ${OUR_CLOSE}`, 'link end', 'sink end closed'])
  t.same(h.sink.ends, [{ kind: 'closed' }])
  h.clock.advance(LINGER_AFTER_END_MS - 1)
  t.equal(h.wire.log.length, 3)
  h.clock.advance(1)
  t.same(h.wire.log.slice(3), ['link destroy'])
  t.equal(h.clock.pending, 0)

  const late = new StreamHarness().opened()
  late.stream.close()
  late.mark()
  late.server(`<presence from='a@example.com' type='unavailable'/></stream:stream>`)
  t.same(late.wire.log, [`sink element <presence from='a@example.com' type='unavailable'/>`, 'link end', 'sink end closed'], 'what the server sends before its close tag still reaches the sink')
})

t.test('RFC 6120 §4.4: a server that never answers our close tag is given closeTimeoutMs, then the stream is closed', async (t) => {
  const h = new StreamHarness().opened()
  h.stream.close()
  h.mark()
  h.clock.advance(h.settings.closeTimeoutMs - 1)
  t.same(h.wire.log, [])
  h.clock.advance(1)
  t.same(h.wire.log, ['link end', 'sink end closed'])
  h.clock.advance(LINGER_AFTER_END_MS)
  t.same(h.wire.log, ['link end', 'sink end closed', 'link destroy'])
})

t.test('RFC 6120 §4.4: the connection closing after our close tag completes the close', async (t) => {
  const h = new StreamHarness().opened()
  h.stream.close()
  h.mark()
  h.stream.linkClosed()
  t.same(h.wire.log, ['link destroy', 'sink end closed'])
  t.equal(h.clock.pending, 0)
})

t.test('close() before any stream of ours exists (connecting, STARTTLS) drops the link and reports closed from inside close()', async (t) => {
  const h = new StreamHarness()
  h.open()
  h.mark()
  h.stream.close()
  t.same(h.wire.log, ['link destroy', 'sink end closed'], 'nothing to end politely; reported before close() returns')
  t.equal(h.clock.pending, 0)
  const idle = new StreamHarness()
  idle.stream.close()
  t.same(idle.wire.log, ['sink end closed'], 'never opened: no link at all')
  const securing = new StreamHarness()
  securing.connect(PLAIN_REMOTE)
  securing.server(serverHeader() + FEATURES_STARTTLS + `<proceed xmlns='${TLS_NS}'/>`)
  securing.mark()
  securing.stream.close()
  t.same(securing.wire.log, ['link destroy', 'sink end closed'], 'during STARTTLS no stream of the client’s exists yet either')
})

t.test('RFC 6120 §4.4: the server’s </stream:stream> is answered with ours and the stream is closed', async (t) => {
  const h = new StreamHarness().opened()
  h.server('</stream:stream>')
  t.same(h.wire.log, [`link write ${OUR_CLOSE}`, 'link end', 'sink end closed'])
  t.same(h.sink.ends, [{ kind: 'closed' }])
})

t.test(
  'RFC 6120 §4.4: close() while the server’s header is awaited completes as closed when the server answers header and close tag',
  async (t) => {
    const h = new StreamHarness()
    h.connect(LOOPBACK)
    h.stream.close()
    h.mark()
    h.server(serverHeader() + FEATURES_PLAIN + '</stream:stream>')
    t.same(h.wire.log, ['link end', 'sink end closed'])
    t.same(h.sink.ends, [{ kind: 'closed' }])
  },
)

t.test(
  'RFC 6120 §5.3.1: close() before the features: the features that follow are not handed to the sink as an element (unfiltered)',
  async (t) => {
    const h = new StreamHarness()
    h.connect(PLAIN_REMOTE)
    h.server(serverHeader())
    h.stream.close()
    h.mark()
    h.server(FEATURES_STARTTLS + '</stream:stream>')
    t.same(h.wire.log, ['link end', 'sink end closed'])
  },
)

t.test(
  'the port contract (“the sink hears closed”): the pre-authentication deadline passing during the close handshake does not turn it into auth-timeout',
  async (t) => {
    const h = new StreamHarness().opened()
    h.clock.advance(h.settings.preAuthTimeoutMs - 1_000)
    h.stream.close()
    h.mark()
    h.clock.advance(1_000)
    t.same(h.wire.log, [], 'still waiting for the server’s close tag')
    h.server('</stream:stream>')
    t.same(h.sink.ends, [{ kind: 'closed' }])
  },
)

t.test(
  'the port contract (“the sink hears closed”): the connect deadline passing during the close handshake does not turn it into a timeout failure',
  async (t) => {
    const h = new StreamHarness()
    h.connect(LOOPBACK)
    h.server(serverHeader())
    h.clock.advance(h.settings.connectTimeoutMs - 1_000)
    h.stream.close()
    h.mark()
    h.clock.advance(1_000)
    t.same(h.wire.log, [], 'still waiting for the server’s close tag')
    h.server('</stream:stream>')
    t.same(h.sink.ends, [{ kind: 'closed' }])
  },
)

// ── stream errors ────────────────────────────────────────────────────────

t.test('RFC 6120 §4.9.1.1: the server’s <stream:error> ends the stream: ours is closed and the error forwarded whole', async (t) => {
  const h = new StreamHarness().opened()
  h.server(CONFLICT + '</stream:stream>')
  t.same(h.wire.log, [`link write ${OUR_CLOSE}`, 'link end', 'sink end stream-error conflict'])
  const [end] = h.sink.ends
  t.equal(h.sink.ends.length, 1)
  if (end?.kind !== 'stream-error') throw new Error('expected a stream-error end')
  t.equal(end.condition, 'conflict')
  t.equal(serialize(end.error), CONFLICT_OUT)
  h.clock.advance(LINGER_AFTER_END_MS)
  t.same(h.wire.log.slice(3), ['link destroy'])

  const unknown = new StreamHarness().opened()
  unknown.server(`<stream:error><bogus-condition xmlns='${ERR_NS}'/><text xmlns='${ERR_NS}'>?</text></stream:error>`)
  t.match(unknown.sink.ends, [{ kind: 'stream-error', condition: 'undefined-condition' }], 'RFC 6120 §4.9.2: a condition we do not know is undefined-condition')
})

t.test('RFC 6120 §4.9.1.1: a stream error before the features (host-unknown) ends the stream the same way', async (t) => {
  const h = new StreamHarness()
  h.connect(LOOPBACK)
  h.mark()
  h.server(serverHeader() + `<stream:error><host-unknown xmlns='${ERR_NS}'/></stream:error>`)
  t.same(h.wire.log, [`link write ${OUR_CLOSE}`, 'link end', 'sink end stream-error host-unknown'])
  t.equal(h.clock.pending, 1, 'only the linger timer')
})

t.test('RFC 6120 §4.9.1.1: a stream error in answer to our close tag is forwarded without a second close tag', async (t) => {
  const h = new StreamHarness().opened()
  h.stream.close()
  h.server(`<stream:error><system-shutdown xmlns='${ERR_NS}'/></stream:error>`)
  t.same(h.wire.log, [`link write ${OUR_CLOSE}`, 'link end', 'sink end stream-error system-shutdown'])
})

t.test(
  'RFC 6120 §4.4: the server’s stream error and its close tag in separate reads: our close tag is written once, and nothing after link.end()',
  async (t) => {
    const h = new StreamHarness().opened()
    h.server(CONFLICT)
    h.server('</stream:stream>')
    t.same(h.wire.log, [`link write ${OUR_CLOSE}`, 'link end', 'sink end stream-error conflict'])
  },
)

t.test('RFC 6120 §4.9.3.12, §11.1: bad XML from the server (not-well-formed, restricted-xml) gets our stream error and close tag, which are flushed before the link goes; the stream fails with cause protocol', async (t) => {
  const h = new StreamHarness().opened()
  h.server(`<message from='a@example.com'><body>hi</message>`)
  t.same(h.wire.log, [`link write ${OUR_ERROR('not-well-formed', 'end tag does not match start tag')}${OUR_CLOSE}`, 'link end', 'sink end failed protocol'])
  t.same(h.sink.ends, [{ kind: 'failed', cause: 'protocol', opened: true, text: 'the XMPP server sent bad XML', detail: 'upstream XML: not-well-formed' }])
  t.equal(h.clock.pending, 1, 'only the linger timer')
  h.clock.advance(LINGER_AFTER_END_MS)
  t.equal(h.wire.log.at(-1), 'link destroy')

  const comment = new StreamHarness()
  comment.connect(LOOPBACK)
  comment.mark()
  comment.server(serverHeader() + '<!-- debug -->')
  t.same(comment.wire.log, [`link write ${OUR_ERROR('restricted-xml', 'comments are not allowed')}${OUR_CLOSE}`, 'link end', 'sink end failed protocol'], 'RFC 6120 §11.1: a comment is restricted-xml')
  t.same(comment.sink.ends, [{ kind: 'failed', cause: 'protocol', opened: false, text: 'the XMPP server sent bad XML', detail: 'upstream XML: restricted-xml' }])
})

t.test('RFC 6120 §4.4: bad XML from the server after our close tag is not answered (nothing may follow </stream:stream>); the close is over', async (t) => {
  const h = new StreamHarness().opened()
  h.stream.close()
  h.mark()
  h.server('<message><body></message>')
  t.same(h.wire.log, ['link destroy', 'sink end closed'], 'nothing written after our close tag')
  t.same(h.sink.ends, [{ kind: 'closed' }])
})

t.test('RFC 6120 §4.7.5: a bad server header (wrong default namespace, no version) gets our stream error; the stream fails with cause protocol', async (t) => {
  const h = new StreamHarness()
  h.connect(LOOPBACK)
  h.mark()
  h.server(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='${STREAMS_NS}' from='example.com' id='s1' version='1.0'>`)
  t.same(h.wire.log, [`link write ${OUR_ERROR('invalid-namespace')}${OUR_CLOSE}`, 'link end', 'sink end failed protocol'])
  t.same(h.sink.ends, [{ kind: 'failed', cause: 'protocol', opened: false, text: 'the XMPP server sent a bad stream header', detail: 'upstream stream header: invalid-namespace' }])

  const version = new StreamHarness()
  version.connect(LOOPBACK)
  version.mark()
  version.server(`<stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS_NS}' from='example.com' id='s1'>`)
  t.same(version.wire.log, [`link write ${OUR_ERROR('unsupported-version')}${OUR_CLOSE}`, 'link end', 'sink end failed protocol'], 'no version 1.x is unsupported-version')
})

t.test('RFC 6120 §4.3.2: an element other than features after the header fails the stream with cause protocol', async (t) => {
  const h = new StreamHarness()
  h.connect(LOOPBACK)
  h.mark()
  h.server(serverHeader() + `<message from='a@example.com'/>`)
  t.same(h.wire.log, ['link destroy', 'sink end failed protocol'])
  t.same(h.sink.ends, [{ kind: 'failed', cause: 'protocol', opened: false, text: 'the XMPP server did not send stream features', detail: 'expected stream features, got <message>' }])
})

t.test('RFC 6120 §5.4.2.3: an element other than <proceed/> or <failure/> after <starttls/> fails the stream with cause tls', async (t) => {
  const h = new StreamHarness()
  h.connect(PLAIN_REMOTE)
  h.server(serverHeader() + FEATURES_STARTTLS)
  h.mark()
  h.server(`<message/>`)
  t.same(h.wire.log, ['link destroy', 'sink end failed tls'])
})

// ── failure causes ───────────────────────────────────────────────────────

const LINK_FAILURES: { cause: UpstreamFailureCause; text: string; detail: string }[] = [
  { cause: 'refused', text: 'the XMPP server refused the connection', detail: 'connect 127.0.0.1:5222: ECONNREFUSED' },
  { cause: 'dns', text: 'the XMPP server could not be located', detail: 'no endpoint for example.com' },
  { cause: 'network', text: 'the XMPP server could not be reached', detail: 'connect 192.0.2.1:5222: EHOSTUNREACH' },
  { cause: 'tls', text: 'TLS with upstream failed', detail: 'self-signed certificate' },
]
t.test("a link that fails to connect (refused, dns, network, tls) ends the stream with that cause, opened=false, the link's text and detail", async (t) => {
  for (const failure of LINK_FAILURES) {
    const h = new StreamHarness()
    h.open()
    h.stream.send(utf8(MSG))
    h.mark()
    h.stream.linkFailed(failure.cause, failure.text, failure.detail)
    t.same(h.wire.log, ['link destroy', `sink end failed ${failure.cause}`], failure.cause)
    t.same(h.sink.ends, [{ kind: 'failed', cause: failure.cause, opened: false, text: failure.text, detail: failure.detail }], failure.cause)
    t.equal(h.stream.bufferedBytes, 0, `${failure.cause}: the early data is gone`)
    t.equal(h.clock.pending, 0, `${failure.cause}: the connect and pre-auth deadlines are cancelled`)
  }
})

t.test('a link that fails from inside connect() is reported once, before open() returns', async (t) => {
  const h = new StreamHarness()
  h.onLink = (link) => link.when('connect', () => h.stream.linkFailed('dns', 'the XMPP server could not be located', 'no endpoint for example.com'))
  h.open()
  t.same(h.wire.log, ['link connect', 'link destroy', 'sink end failed dns'])
  h.stream.linkFailed('network', 'again')
  t.equal(h.sink.ends.length, 1)
})

t.test('upstreamConnectTimeoutMs: no features in time ends the stream with cause timeout (nothing at the deadline − 1 ms)', async (t) => {
  const h = new StreamHarness()
  h.connect(LOOPBACK)
  h.server(serverHeader())
  h.mark()
  h.clock.advance(h.settings.connectTimeoutMs - 1)
  t.same(h.wire.log, [])
  h.clock.advance(1)
  t.same(h.wire.log, ['link destroy', 'sink end failed timeout'])
  t.same(h.sink.ends, [{ kind: 'failed', cause: 'timeout', opened: false, text: 'the XMPP server did not answer in time' }])
  t.equal(h.clock.pending, 0)
})

t.test('upstreamConnectTimeoutMs covers STARTTLS: a TLS handshake that never ends is a timeout', async (t) => {
  const h = new StreamHarness()
  h.connect(PLAIN_REMOTE)
  h.clock.advance(1_000)
  h.server(serverHeader() + FEATURES_STARTTLS + `<proceed xmlns='${TLS_NS}'/>`)
  h.mark()
  h.clock.advance(h.settings.connectTimeoutMs - 1_000 - 1)
  t.same(h.wire.log, [])
  h.clock.advance(1)
  t.same(h.wire.log, ['link destroy', 'sink end failed timeout'])
})

t.test('a connection closed before the stream opened is cause network, with the socket error as detail', async (t) => {
  const h = new StreamHarness()
  h.connect(LOOPBACK)
  h.mark()
  h.stream.linkClosed('upstream connection error: ECONNRESET')
  t.same(h.wire.log, ['link destroy', 'sink end failed network'])
  t.same(h.sink.ends, [{ kind: 'failed', cause: 'network', opened: false, text: 'the XMPP server closed the connection', detail: 'upstream connection error: ECONNRESET' }])
})

t.test('an open stream’s connection lost without </stream:stream> is cause lost', async (t) => {
  const h = new StreamHarness().opened()
  h.stream.linkClosed()
  t.same(h.wire.log, ['link destroy', 'sink end failed lost'])
  t.same(h.sink.ends, [{ kind: 'failed', cause: 'lost', opened: true, text: 'the XMPP server closed the connection' }])
  const restarting = new StreamHarness().opened()
  restarting.stream.restart()
  restarting.stream.linkClosed()
  t.match(restarting.sink.ends, [{ kind: 'failed', cause: 'lost', opened: true }], 'during a restart, after the first stream opened, it is lost too')
})

// ── backpressure ─────────────────────────────────────────────────────────

t.test('drainTimeoutMs: a server that leaves our data unread: send() returns false above highWaterBytes, then the stream fails with cause not-reading', async (t) => {
  const h = new StreamHarness().opened()
  h.link.queuedBytes = h.settings.highWaterBytes
  t.equal(h.stream.send(utf8(MSG)), true, 'at the mark is fine')
  h.link.queuedBytes = h.settings.highWaterBytes + 1
  t.equal(h.stream.send(utf8(MSG)), false)
  t.equal(h.stream.bufferedBytes, h.settings.highWaterBytes + 1)
  h.clock.advance(1_000)
  t.equal(h.stream.send(utf8(MSG)), false, 'still over: the deadline is not restarted')
  h.mark()
  h.clock.advance(h.settings.drainTimeoutMs - 1_000 - 1)
  t.same(h.wire.log, [])
  h.clock.advance(1)
  t.same(h.wire.log, ['link destroy', 'sink end failed not-reading'])
  t.same(h.sink.ends, [{ kind: 'failed', cause: 'not-reading', opened: true, text: 'upstream stopped reading' }])
})

t.test('a server that catches up: linkDrained cancels the drain deadline and tells the sink the client may send again', async (t) => {
  const h = new StreamHarness().opened()
  h.stream.linkDrained()
  t.same(h.wire.log, [], 'no pressure, nothing to say')
  h.link.queuedBytes = h.settings.highWaterBytes + 1
  h.stream.send(utf8(MSG))
  h.link.queuedBytes = 0
  h.stream.linkDrained()
  t.same(h.wire.log, [`link write ${MSG}`, 'sink writable'])
  h.clock.advance(h.settings.drainTimeoutMs)
  t.equal(h.stream.state, 'open')
  t.equal(h.clock.pending, 1, 'only the pre-auth deadline')
})

// ── detach and after the end ─────────────────────────────────────────────

t.test('XEP-0198 §5: detach() drops the link without a close tag and the sink hears nothing, then or later', async (t) => {
  const h = new StreamHarness().opened()
  h.stream.detach()
  t.same(h.wire.log, ['link destroy'])
  t.equal(h.stream.state, 'closed')
  t.equal(h.clock.pending, 0)
  h.stream.linkClosed()
  h.stream.linkFailed('network', 'late')
  h.clock.advance(h.settings.preAuthTimeoutMs)
  t.same(h.wire.log, ['link destroy'])
  t.same(h.sink.ends, [])
})

t.test('after the end, calls and link events change nothing and nothing is reported twice', async (t) => {
  const h = new StreamHarness().opened()
  h.stream.linkClosed()
  h.mark()
  t.equal(h.stream.send(utf8(MSG)), true)
  h.stream.restart()
  h.stream.close()
  h.stream.detach()
  h.stream.linkUp(LOOPBACK)
  h.stream.linkSecured()
  h.stream.linkDrained()
  h.stream.linkClosed()
  h.stream.linkFailed('network', 'late')
  h.server(`<message/>`)
  h.clock.advance(h.settings.preAuthTimeoutMs)
  t.same(h.wire.log, [])
  t.equal(h.sink.ends.length, 1)
})

t.test(
  'RFC 6120 §4.4: after an auth-timeout close, the server’s answering </stream:stream> is not answered again',
  async (t) => {
    const h = new StreamHarness().opened()
    h.clock.advance(h.settings.preAuthTimeoutMs)
    h.mark()
    h.server('</stream:stream>')
    t.same(h.wire.log, [])
  },
)

t.test('a server that closes its stream before it ever sent features did not serve the client: failed (protocol), not a clean close', async (t) => {
  const h = new StreamHarness()
  h.connect(LOOPBACK)
  h.mark()
  h.server(serverHeader() + '</stream:stream>')
  t.same(h.wire.log, [`link write ${OUR_CLOSE}`, 'link end', 'sink end failed protocol'])
  t.same(h.sink.ends, [{ kind: 'failed', cause: 'protocol', opened: false, text: 'the XMPP server closed the stream before it opened', detail: 'stream closed before the first features' }])
})
