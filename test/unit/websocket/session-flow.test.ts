/**
 * WebSocketSession: keeping the connection honest — keepalive pings,
 * backpressure both ways, and frames that are not XMPP.
 */
import t from 'tap'
import { CLIENT_CLOSE, SessionHarness } from './fakes.js'

const STANZA = `<message from='a@example.com'><body>hi</body></message>`
const STANZA_OUT = `client <message xmlns='jabber:client' from='a@example.com'><body>hi</body></message>`

t.test('RFC 6455 §5.5.2: a ping every pingIntervalMs; a pong keeps the connection', async (t) => {
  const h = new SessionHarness().opened()
  h.clock.advance(h.settings.pingIntervalMs - 1)
  t.same(h.wire.log, [])
  h.clock.advance(1)
  t.same(h.wire.log, ['ping'])
  h.session.pong()
  h.clock.advance(h.settings.pingIntervalMs)
  t.same(h.wire.log, ['ping', 'ping'])
  h.session.pong()
  h.clock.advance(h.settings.pingIntervalMs)
  t.same(h.wire.log, ['ping', 'ping', 'ping'])
  t.equal(h.session.state, 'open')
})

t.test('RFC 6455 §5.5.2: no pong within an interval cuts the connection (no-pong, connection-timeout) and detaches the upstream', async (t) => {
  const h = new SessionHarness().opened()
  h.clock.advance(h.settings.pingIntervalMs)
  t.same(h.wire.log, ['ping'])
  h.clock.advance(h.settings.pingIntervalMs - 1)
  t.same(h.wire.log, ['ping'], 'nothing at the deadline − 1 ms')
  h.clock.advance(1)
  t.same(h.wire.log, ['ping', 'upstream detach', 'terminate'], 'no closing handshake, no XMPP words: the client is not there to hear them')
  t.equal(h.upstream.closed, 0)
  t.same(h.observer.ends, [])
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'no-pong', condition: 'connection-timeout', text: 'no pong' }])
  t.equal(h.clock.pending, 0)
})

t.test('pingIntervalMs 0 turns the keepalive off', async (t) => {
  const h = new SessionHarness({ pingIntervalMs: 0 }).opened()
  h.clock.advance(10 * 60_000)
  t.same(h.wire.log, [])
  t.equal(h.clock.pending, 0)
})

t.test('a slow client: above highWaterBytes the upstream is paused; at drainTimeoutMs the connection is cut (client-not-reading, resource-constraint)', async (t) => {
  const h = new SessionHarness({ pingIntervalMs: 0 }).opened()
  h.peer.bufferedBytes = h.settings.highWaterBytes
  h.fromServer(STANZA)
  t.same(h.wire.log, [STANZA_OUT], 'at the mark nothing changes')
  h.peer.bufferedBytes = h.settings.highWaterBytes + 1
  h.fromServer(STANZA)
  h.fromServer(STANZA)
  t.same(h.wire.log, [STANZA_OUT, STANZA_OUT, 'upstream pause', STANZA_OUT], 'paused once')
  h.mark()
  h.clock.advance(h.settings.drainTimeoutMs - 1)
  t.same(h.wire.log, [])
  h.clock.advance(1)
  t.same(h.wire.log, ['upstream detach', 'terminate'])
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'client-not-reading', condition: 'resource-constraint', text: 'client did not read its data in time' }])
})

t.test('a client that catches up: flushed() at half the high-water mark resumes the upstream and cancels the drain deadline', async (t) => {
  const h = new SessionHarness({ pingIntervalMs: 0 }).opened()
  h.session.flushed()
  t.same(h.wire.log, [], 'nothing paused, nothing to resume')
  h.peer.bufferedBytes = h.settings.highWaterBytes + 1
  h.fromServer(STANZA)
  h.peer.bufferedBytes = h.settings.highWaterBytes / 2 + 1
  h.session.flushed()
  t.same(h.wire.log, [STANZA_OUT, 'upstream pause'], 'above half the mark: still paused')
  h.peer.bufferedBytes = h.settings.highWaterBytes / 2
  h.session.flushed()
  t.same(h.wire.log, [STANZA_OUT, 'upstream pause', 'upstream resume'])
  h.clock.advance(h.settings.drainTimeoutMs)
  t.equal(h.session.state, 'open', 'the drain deadline was cancelled')
  t.equal(h.clock.pending, 0)
})

t.test('a slow server: when the port refuses more, the client is not read until upstreamWritable', async (t) => {
  const h = new SessionHarness().opened()
  h.upstream.accepting = false
  h.client(`<message xmlns='jabber:client' id='1'/>`)
  h.client(`<message xmlns='jabber:client' id='2'/>`)
  h.session.upstreamWritable()
  h.session.upstreamWritable()
  t.same(h.wire.log, [
    `upstream send <message xmlns='jabber:client' id='1'/>`,
    'pause reading',
    `upstream send <message xmlns='jabber:client' id='2'/>`,
    'resume reading',
  ])
})

t.test('RFC 7395 §3.2: a binary frame is answered with close 1003 and no XMPP words; the upstream is closed', async (t) => {
  const h = new SessionHarness().opened()
  h.session.binaryMessage()
  t.same(h.wire.log, ['upstream close', 'close 1003 binary frames are not XMPP'], 'a client that broke the rules gets no resumable session: the upstream is closed politely')
  t.same(h.peer.closes, [{ code: 1003, reason: 'binary frames are not XMPP' }])
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'binary-frame', condition: 'unsupported-data', text: 'binary frames are not XMPP' }])
})

t.test('RFC 6455 §7.1.1: a client that does not complete the closing handshake is terminated closeTimeoutMs after our close frame', async (t) => {
  const h = new SessionHarness().opened()
  h.session.binaryMessage()
  h.mark()
  h.clock.advance(h.settings.closeTimeoutMs - 1)
  t.same(h.wire.log, [])
  h.clock.advance(1)
  t.same(h.wire.log, ['terminate'])
  h.session.peerClosed()
  t.equal(h.observer.ends.length, 1)
})

t.test('a message over maxStanzaBytes: the WebSocket library closes (1009) itself; the session adds nothing and closes the upstream', async (t) => {
  const h = new SessionHarness().opened()
  h.session.messageTooBig()
  t.same(h.wire.log, ['upstream close'])
  t.equal(h.session.state, 'closed')
  h.client(`<message xmlns='jabber:client'/>`)
  t.same(h.wire.log, ['upstream close'], 'nothing more is read')
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'bad-input', condition: 'policy-violation', text: 'message larger than maxStanzaBytes' }])
  t.equal(h.clock.pending, 0)
})

t.test('RFC 7395 §3.3.3 not-well-formed: a broken message ends the stream with a stream error, <close/> and close 1000; the upstream is closed', async (t) => {
  const h = new SessionHarness().opened()
  h.client(`<message xmlns='jabber:client'><body>`)
  t.same(h.wire.log, [
    'upstream close',
    `client <stream:error xmlns:stream='http://etherx.jabber.org/streams'><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>incomplete element</text></stream:error>`,
    CLIENT_CLOSE,
    'close 1000',
  ])
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'bad-input', condition: 'not-well-formed', text: 'incomplete element' }])
})
