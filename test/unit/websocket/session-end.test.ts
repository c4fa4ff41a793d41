/**
 * WebSocketSession: every way a session ends — the client's <close/>, the
 * server's close, stream errors, upstream failures, the client vanishing,
 * shutdown — and the typed end, reported once, when the socket has closed.
 */
import t from 'tap'
import type { XmlElement } from '../../../src/core/xml/tokenizer.js'
import { BARE_OPEN, CLIENT_CLOSE, CLOSE, ClosingAtOnceUpstream, ERR_NS, OPEN, STREAM_ERROR, SessionHarness, serverElement, serverStanzas } from './fakes.js'

const CONFLICT = `<stream:error><conflict xmlns='${ERR_NS}'/><text xmlns='${ERR_NS}'>Replaced by new connection</text></stream:error>`
const CONFLICT_OUT = `<stream:error xmlns:stream="http://etherx.jabber.org/streams"><conflict xmlns="${ERR_NS}"/><text xmlns="${ERR_NS}">Replaced by new connection</text></stream:error>`

// ── the client's <close/> ────────────────────────────────────────────────

t.test('RFC 7395 §3.6: the client’s <close/> closes the upstream stream politely; once it is closed the client gets <close/> and closes the WebSocket', async (t) => {
  const h = new SessionHarness().opened()
  h.client(CLOSE)
  t.same(h.wire.log, ['upstream close'])
  t.equal(h.session.state, 'closing')
  h.upstream.sink?.upstreamClosed({ kind: 'closed' })
  t.same(h.wire.log, ['upstream close', CLIENT_CLOSE], 'no close frame of ours: the client closes the WebSocket (RFC 7395 §3.6)')
  t.equal(h.session.state, 'closing')
  t.same(h.observer.ends, [])
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'client-close' }])
  t.equal(h.upstream.detached, 0, 'closed, not detached')
  t.equal(h.clock.pending, 0)
})

t.test('RFC 7395 §3.6: after <close/> the client’s messages are not processed', async (t) => {
  const h = new SessionHarness().opened()
  h.client(CLOSE)
  h.client(`<message xmlns='jabber:client'><body>late</body></message>`)
  h.client(OPEN())
  h.client(CLOSE)
  t.same(h.wire.log, ['upstream close'])
  t.same(h.observer.relays, [])
})

t.test('RFC 7395 §3.6: a client that does not close the WebSocket after our <close/> gets close 1000 at closeTimeoutMs, and is terminated closeTimeoutMs later', async (t) => {
  const h = new SessionHarness().opened()
  h.client(CLOSE)
  h.upstream.sink?.upstreamClosed({ kind: 'closed' })
  h.mark()
  h.clock.advance(h.settings.closeTimeoutMs - 1)
  t.same(h.wire.log, [])
  h.clock.advance(1)
  t.same(h.wire.log, ['close 1000'])
  h.clock.advance(h.settings.closeTimeoutMs - 1)
  t.same(h.wire.log, ['close 1000'])
  h.clock.advance(1)
  t.same(h.wire.log, ['close 1000', 'terminate'])
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'client-close' }])
})

t.test('a port that reports closed from inside close(): the report is handled after the <close/> input, in order', async (t) => {
  const h = new SessionHarness({}, (wire) => new ClosingAtOnceUpstream(wire))
  h.opened()
  h.client(CLOSE)
  t.same(h.wire.log, ['upstream close', CLIENT_CLOSE])
  t.equal(h.session.state, 'closing')
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'client-close' }])
})

t.test('RFC 7395 §3.6: a client that closes the WebSocket right after its <close/> leaves the upstream close to finish (not detached)', async (t) => {
  const h = new SessionHarness().opened()
  h.client(CLOSE)
  h.session.peerClosed()
  t.same(h.wire.log, ['upstream close'])
  t.same(h.observer.ends, [{ reason: 'client-close' }])
  h.upstream.sink?.upstreamClosed({ kind: 'closed' })
  t.same(h.wire.log, ['upstream close'], 'the late report changes nothing')
  t.equal(h.observer.ends.length, 1)
})

// ── the server ends it ───────────────────────────────────────────────────

t.test('RFC 7395 §3.6: the server ending its stream: the client gets <close/> (upstream-closed)', async (t) => {
  const h = new SessionHarness().opened()
  h.upstream.sink?.upstreamClosed({ kind: 'closed' })
  t.same(h.wire.log, [CLIENT_CLOSE])
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'upstream-closed' }])
})

t.test('RFC 6120 §4.9.1.1, RFC 7395 §3.6.1: the server’s <stream:error> is forwarded with xmlns:stream, then <close/> and close 1000', async (t) => {
  const h = new SessionHarness().opened()
  h.upstream.sink?.upstreamClosed({ kind: 'stream-error', error: serverElement(CONFLICT), condition: 'conflict' })
  t.same(h.wire.log, [`client ${CONFLICT_OUT}`, CLIENT_CLOSE, 'close 1000'])
  t.equal(h.upstream.detached + h.upstream.closed, 0, 'the upstream stream is already over')
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'upstream-error', condition: 'conflict' }])
})

t.test('RFC 6120 §4.9.1.2: a server stream error before the stream opened is preceded by an <open/> from the routed domain', async (t) => {
  const h = new SessionHarness()
  h.client(OPEN())
  h.mark()
  h.upstream.sink?.upstreamClosed({ kind: 'stream-error', error: serverElement(`<stream:error><host-unknown xmlns='${ERR_NS}'/></stream:error>`), condition: 'host-unknown' })
  t.same(h.wire.log, [
    `client ${BARE_OPEN('example.com')}`,
    `client <stream:error xmlns:stream="http://etherx.jabber.org/streams"><host-unknown xmlns="${ERR_NS}"/></stream:error>`,
    CLIENT_CLOSE,
    'close 1000',
  ])
})

t.test('RFC 6120 §4.9.3.16 remote-connection-failed: a server that cannot be reached: <open/>, the error with the port’s text, <close/>, close 1000', async (t) => {
  const h = new SessionHarness()
  h.client(OPEN())
  h.mark()
  h.upstream.sink?.upstreamClosed({ kind: 'failed', cause: 'refused', opened: false, text: 'the XMPP server refused the connection', detail: 'connect 127.0.0.1:5222: ECONNREFUSED' })
  t.same(h.wire.log, [`client ${BARE_OPEN('example.com')}`, `client ${STREAM_ERROR('remote-connection-failed', 'the XMPP server refused the connection')}`, CLIENT_CLOSE, 'close 1000'])
  h.session.peerClosed()
  t.same(h.observer.ends, [
    { reason: 'upstream-failed', condition: 'remote-connection-failed', text: 'the XMPP server refused the connection', detail: 'connect 127.0.0.1:5222: ECONNREFUSED' },
  ])
})

t.test('RFC 6120 §4.9.3.16 remote-connection-failed: an open stream’s lost connection: the error in the open stream, no second <open/>', async (t) => {
  const h = new SessionHarness().opened()
  h.upstream.sink?.upstreamClosed({ kind: 'failed', cause: 'lost', opened: true, text: 'the XMPP server closed the connection' })
  t.same(h.wire.log, [`client ${STREAM_ERROR('remote-connection-failed', 'the XMPP server closed the connection')}`, CLIENT_CLOSE, 'close 1000'])
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'upstream-failed', condition: 'remote-connection-failed', text: 'the XMPP server closed the connection' }])
})

t.test('RFC 6120 §4.9.3.14 policy-violation: no authentication within the pre-auth period (auth-timeout)', async (t) => {
  const h = new SessionHarness().opened()
  h.upstream.sink?.upstreamClosed({ kind: 'auth-timeout' })
  t.same(h.wire.log, [`client ${STREAM_ERROR('policy-violation', 'authentication not completed in time')}`, CLIENT_CLOSE, 'close 1000'])
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'auth-timeout', condition: 'policy-violation', text: 'authentication not completed in time' }])
})

// ── the client vanishes ──────────────────────────────────────────────────

t.test('XEP-0198 §5: a WebSocket that closes without <close/> detaches the upstream (no </stream:stream>) and ends client-gone', async (t) => {
  const h = new SessionHarness().opened()
  h.session.peerClosed()
  t.same(h.wire.log, ['upstream detach'])
  t.equal(h.upstream.closed, 0, 'not closed: the server may keep the session for resumption')
  t.same(h.observer.ends, [{ reason: 'client-gone' }])
  t.equal(h.clock.pending, 0)
})

t.test('XEP-0198 §5: a client that vanishes while the upstream stream is opening detaches it too', async (t) => {
  const h = new SessionHarness()
  h.client(OPEN())
  h.mark()
  h.session.peerClosed()
  t.same(h.wire.log, ['upstream detach'])
  t.same(h.observer.ends, [{ reason: 'client-gone' }])
})

t.test('a client that vanishes before <open/>: client-gone, and the open deadline is gone with it', async (t) => {
  const h = new SessionHarness()
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'client-gone' }])
  t.equal(h.clock.pending, 0)
  h.clock.advance(h.settings.openTimeoutMs)
  t.same(h.wire.log, [])
})

// ── shutdown ─────────────────────────────────────────────────────────────

t.test('shutdown: the upstream stream is closed first; once it is closed the client gets <close/> and close 1001 (system-shutdown)', async (t) => {
  const h = new SessionHarness().opened()
  h.session.shutdown()
  t.same(h.wire.log, ['upstream close'], 'the client hears nothing until the server side is closed')
  t.equal(h.session.state, 'closing')
  h.upstream.sink?.upstreamClosed({ kind: 'closed' })
  t.same(h.wire.log, ['upstream close', CLIENT_CLOSE, 'close 1001'])
  t.equal(h.upstream.detached, 0)
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'shutdown', condition: 'system-shutdown' }])
})

t.test('shutdown with a port that reports closed from inside close(): <close/> and 1001 follow the upstream close, in order', async (t) => {
  const h = new SessionHarness({}, (wire) => new ClosingAtOnceUpstream(wire))
  h.opened()
  h.session.shutdown()
  t.same(h.wire.log, ['upstream close', CLIENT_CLOSE, 'close 1001'])
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'shutdown', condition: 'system-shutdown' }])
})

t.test('shutdown before <open/>: <close/> and close 1001 at once', async (t) => {
  const h = new SessionHarness()
  h.session.shutdown()
  t.same(h.wire.log, [CLIENT_CLOSE, 'close 1001'])
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'shutdown', condition: 'system-shutdown' }])
  t.equal(h.clock.pending, 0)
})

t.test('shutdown: a client that does not complete the closing handshake is terminated closeTimeoutMs after close 1001', async (t) => {
  const h = new SessionHarness()
  h.session.shutdown()
  h.mark()
  h.clock.advance(h.settings.closeTimeoutMs - 1)
  t.same(h.wire.log, [])
  h.clock.advance(1)
  t.same(h.wire.log, ['terminate'])
})

t.test(
  'RFC 7395 §3.6: a shutdown after the client’s <close/> was answered closes the WebSocket (1001) without a second <close/>',
  async (t) => {
    const h = new SessionHarness().opened()
    h.client(CLOSE)
    h.upstream.sink?.upstreamClosed({ kind: 'closed' })
    h.mark()
    h.session.shutdown()
    t.same(h.wire.log, ['close 1001'])
    h.session.peerClosed()
    t.same(h.observer.ends, [{ reason: 'client-close' }], 'the first reason stands')
  },
)

// ── the end is reported once ─────────────────────────────────────────────

t.test('the end is reported once, only when the socket has closed; the first reason decided wins', async (t) => {
  const h = new SessionHarness().opened()
  h.client(CLOSE) // client-close decided
  h.session.binaryMessage() // RFC 7395 §3.6: after <close/> nothing more is processed, a binary frame neither
  h.upstream.sink?.upstreamClosed({ kind: 'failed', cause: 'lost', opened: true, text: 'the XMPP server closed the connection' })
  t.same(h.wire.log, ['upstream close', `client ${'<close xmlns=\'urn:ietf:params:xml:ns:xmpp-framing\'/>'}`], 'the close the client asked for finishes, however the upstream went')
  t.same(h.observer.ends, [])
  h.session.peerClosed()
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'client-close' }])
})

t.test('after the end nothing reaches the client or the upstream and nothing is reported again', async (t) => {
  const h = new SessionHarness().opened()
  h.session.peerClosed()
  h.mark()
  h.client(`<message xmlns='jabber:client'/>`)
  h.session.binaryMessage()
  h.session.messageTooBig()
  h.session.flushed()
  h.session.shutdown()
  h.session.upstreamOpened({ secure: true }, serverElement(`<stream:features/>`))
  h.session.upstreamStanza(serverStanzas(`<message/>`)[0] as XmlElement)
  h.session.upstreamClosed({ kind: 'closed' })
  h.session.peerClosed()
  h.clock.advance(10 * 60_000)
  t.same(h.wire.log, [])
  t.equal(h.observer.ends.length, 1)
})
