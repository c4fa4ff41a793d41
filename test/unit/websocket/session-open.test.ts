/**
 * WebSocketSession: opening — the open deadline, <open/> and its routing,
 * the first frames the client sees, the relay both ways, and the restart.
 */
import t from 'tap'
import { BARE_OPEN, CLIENT_CLOSE, FEATURES_OUT, HEADER, OPEN, OPENED, SASL_NS, STREAM_ERROR, SessionHarness } from './fakes.js'

t.test('RFC 7395 §3.4: <open/> routes the domain and opens the upstream stream with the client’s xml:lang; the client hears nothing yet', async (t) => {
  const h = new SessionHarness()
  h.client(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='Example.COM' version='1.0' xml:lang='fr'/>`)
  t.same(h.wire.log, ['upstream open example.com'])
  t.same(h.upstream.opened, { to: 'example.com', lang: 'fr' }, 'the routed, normalised domain')
  t.equal(h.session.state, 'opening')
  t.equal(h.session.domain, 'example.com')
})

t.test('RFC 7395 §3.4: the server’s header and features reach the client as <open/> and <stream:features> with xmlns:stream', async (t) => {
  const h = new SessionHarness()
  h.client(OPEN())
  h.mark()
  h.serverOpens()
  t.same(h.wire.log, [`client ${OPENED}`, `client ${FEATURES_OUT}`])
  t.equal(h.session.state, 'open')
  t.same(h.observer.relays, [], 'the stream header and features are not relayed stanzas')
})

t.test('RFC 7395 §3.4: without a server ‘from’ the <open/> names the routed domain; without a version it says 1.0', async (t) => {
  const h = new SessionHarness()
  h.client(OPEN())
  h.mark()
  h.serverOpens({ id: 'abc', secure: false })
  t.same(h.wire.log.slice(0, 1), [`client <open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='example.com' id='abc' version='1.0'/>`])
})

t.test('RFC 6120 §4.9.3.6 host-unknown: an <open/> for a domain nobody routes gets an <open/>, the stream error, <close/> and close 1000', async (t) => {
  const h = new SessionHarness()
  h.connector.verdict = { ok: false, condition: 'host-unknown', reason: 'domain "nope.example" is not served here' }
  h.client(OPEN("to='nope.example'"))
  t.same(h.wire.log, [`client ${BARE_OPEN()}`, `client ${STREAM_ERROR('host-unknown', 'this domain is not served here')}`, CLIENT_CLOSE, 'close 1000'])
  t.equal(h.upstream.opened, undefined, 'no upstream stream was opened')
  t.equal(h.session.state, 'closed')
  t.same(h.observer.ends, [], 'reported only once the socket has closed')
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'unknown-domain', condition: 'host-unknown', text: 'this domain is not served here', detail: 'domain "nope.example" is not served here' }])
})

t.test("RFC 6120 §4.9.3.7 improper-addressing: an <open/> without 'to' is refused with the condition BOSH uses (XEP-0124 §17.2)", async (t) => {
  const h = new SessionHarness()
  h.client(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' version='1.0'/>`)
  t.same(h.wire.log, [`client ${BARE_OPEN()}`, `client ${STREAM_ERROR('improper-addressing', "the 'to' attribute is required")}`, CLIENT_CLOSE, 'close 1000'])
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'unknown-domain', condition: 'improper-addressing', text: "the 'to' attribute is required", detail: 'no to' }])
})

t.test('RFC 7395 §3.4: a first message other than <open/> is bad-format', async (t) => {
  const h = new SessionHarness()
  h.client(`<message xmlns='jabber:client' to='b@example.com'/>`)
  t.same(h.wire.log, [`client ${BARE_OPEN()}`, `client ${STREAM_ERROR('bad-format', '&lt;open/&gt; must come first (RFC 7395 §3.4)')}`, CLIENT_CLOSE, 'close 1000'])
  t.same(h.upstream.sent, [], 'nothing went upstream')
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'bad-input', condition: 'bad-format', text: '<open/> must come first (RFC 7395 §3.4)' }])
})

t.test('RFC 6120 §4.7.5 unsupported-version: an <open/> without version 1.x is refused', async (t) => {
  const h = new SessionHarness()
  h.client(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com'/>`)
  t.same(h.wire.log, [`client ${BARE_OPEN()}`, `client ${STREAM_ERROR('unsupported-version', 'the version attribute is required')}`, CLIENT_CLOSE, 'close 1000'])
  t.equal(h.upstream.opened, undefined)
})

t.test('openTimeoutMs: a connection that never sends <open/> gets connection-timeout at the deadline, not before', async (t) => {
  const h = new SessionHarness()
  h.clock.advance(h.settings.openTimeoutMs - 1)
  t.same(h.wire.log, [])
  t.equal(h.session.state, 'awaiting-open')
  h.clock.advance(1)
  t.same(h.wire.log, [`client ${BARE_OPEN()}`, `client ${STREAM_ERROR('connection-timeout', 'no &lt;open/&gt; in time')}`, CLIENT_CLOSE, 'close 1000'])
  t.same(h.observer.ends, [])
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'open-timeout', condition: 'connection-timeout', text: 'no <open/> in time' }])
  t.equal(h.clock.pending, 0)
})

t.test('openTimeoutMs: the open deadline stops at <open/>, even while the server has not answered', async (t) => {
  const h = new SessionHarness()
  h.clock.advance(h.settings.openTimeoutMs - 1)
  h.client(OPEN())
  h.mark()
  h.clock.advance(h.settings.openTimeoutMs)
  t.same(h.wire.log, [])
  t.equal(h.session.state, 'opening')
})

t.test('RFC 7395 §3.3.3: client stanzas go upstream byte for byte; one without a namespace inherits jabber:client inside the upstream stream', async (t) => {
  const h = new SessionHarness().opened()
  const message = `<message to='b@example.com'><body>hé</body></message>`
  const iq = `<iq xmlns='jabber:client' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`
  h.client(`<?xml version='1.0'?>\n${message}\n`)
  h.client(iq)
  t.same(h.wire.log, [`upstream send ${message}`, `upstream send ${iq}`])
  t.same(h.observer.relays, [
    { direction: 'to_upstream', name: 'message', bytes: Buffer.byteLength(message, 'utf8') },
    { direction: 'to_upstream', name: 'iq', bytes: Buffer.byteLength(iq, 'utf8') },
  ])
})

t.test("RFC 7395 §3.3.3: server stanzas reach the client as standalone messages, xmlns='jabber:client' declared where they inherited it, otherwise byte for byte", async (t) => {
  const h = new SessionHarness().opened()
  h.fromServer(`<message from='a@example.com' type='chat'><body>hé</body></message><iq xmlns='jabber:client' type='result' id='p1'/>`)
  const message = `<message xmlns='jabber:client' from='a@example.com' type='chat'><body>hé</body></message>`
  const iq = `<iq xmlns='jabber:client' type='result' id='p1'/>`
  t.same(h.wire.log, [`client ${message}`, `client ${iq}`])
  t.same(h.observer.relays, [
    { direction: 'to_client', name: 'message', bytes: Buffer.byteLength(message, 'utf8') },
    { direction: 'to_client', name: 'iq', bytes: Buffer.byteLength(iq, 'utf8') },
  ])
})

t.test('client stanzas sent while the upstream stream is opening are handed to the port, which holds them back', async (t) => {
  const h = new SessionHarness()
  h.client(OPEN())
  h.client(`<presence/>`)
  t.same(h.wire.log, ['upstream open example.com', 'upstream send <presence/>'])
})

t.test('RFC 7395 §3.5, RFC 6120 §6.4.6: after SASL success a second <open/> restarts the upstream stream; the new features follow a new <open/>', async (t) => {
  const h = new SessionHarness().opened()
  h.client(`<auth xmlns='${SASL_NS}' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>`)
  h.session.upstreamAuthenticated()
  h.fromServer(`<success xmlns='${SASL_NS}'/>`)
  t.equal(h.session.authenticated, true)
  t.equal(h.observer.authentications, 1)
  h.client(OPEN())
  h.serverOpens({ ...HEADER, id: 's2' }, `<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>`)
  t.same(h.wire.log, [
    `upstream send <auth xmlns='${SASL_NS}' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>`,
    `client <success xmlns='${SASL_NS}'/>`,
    'upstream restart',
    `client <open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='example.com' id='s2' version='1.0' xml:lang='en'/>`,
    `client <stream:features xmlns:stream="http://etherx.jabber.org/streams"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></stream:features>`,
  ])
  t.equal(h.upstream.restarts, 1)
  t.equal(h.session.state, 'open')
})

t.test('RFC 7395 §3.5: a stream error while a restart is under way is preceded by a fresh <open/>', async (t) => {
  const h = new SessionHarness().opened()
  h.client(OPEN())
  h.mark()
  h.client(`<message xmlns='jabber:client'><body>unclosed</message>`)
  t.same(h.wire.log, ['upstream close', `client ${BARE_OPEN('example.com')}`, `client ${STREAM_ERROR('not-well-formed', 'end tag does not match start tag')}`, CLIENT_CLOSE, 'close 1000'])
})

t.test('RFC 7395 §3.5: an <open/> sent again before the first stream opened asks for what is already coming, so it changes nothing', async (t) => {
  const h = new SessionHarness()
  h.client(OPEN())
  h.mark()
  h.client(OPEN())
  t.same(h.wire.log, [], 'no restart, no error')
  t.equal(h.upstream.restarts, 0)
  t.equal(h.session.state, 'opening')
})
