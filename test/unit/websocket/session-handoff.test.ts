/**
 * WebSocketSession: hand-off shutdown (`shutdownHandoff`) and moving a
 * service (`seeOtherUri`, RFC 7395 §3.6.1), on the manual clock.
 */
import t from 'tap'
import { CLOSE, FRAMING_NS, OPEN, SessionHarness } from './fakes.js'

const URI = 'wss://new.example.org/xmpp-websocket'

t.test('hand-off: the upstream is detached (no </stream:stream>) and the WebSocket closed with 1012, no <close/>', async (t) => {
  const h = new SessionHarness().opened()
  h.session.handOff()
  t.same(h.wire.log, ['upstream detach', 'close 1012 service restart: reconnect'], 'the XMPP stream is not ended on either side: the client resumes elsewhere (XEP-0198)')
  t.equal(h.upstream.closed, 0, 'never closed politely')
  t.equal(h.upstream.detached, 1)
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'handoff', condition: 'service-restart' }])
  t.equal(h.clock.pending, 0, 'no timer left')
})

t.test('hand-off before the stream opened, and twice: one detach, one close', async (t) => {
  const h = new SessionHarness()
  h.client(OPEN())
  h.mark()
  h.session.handOff()
  h.session.handOff()
  t.same(h.wire.log, ['upstream detach', 'close 1012 service restart: reconnect'])
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'handoff', condition: 'service-restart' }])
})

t.test('hand-off while the client’s own <close/> is under way: that close finishes as it would', async (t) => {
  const h = new SessionHarness().opened()
  h.client(CLOSE)
  h.session.handOff()
  t.same(h.wire.log, ['upstream close'], 'the stream the client ended is not made resumable')
  h.upstream.sink?.upstreamClosed({ kind: 'closed' })
  h.session.peerClosed()
  t.equal(h.observer.ends[0]?.reason, 'client-close')
})

t.test('a client that does not close after 1012 is terminated closeTimeoutMs later', async (t) => {
  const h = new SessionHarness().opened()
  h.session.handOff()
  h.mark()
  h.clock.advance(h.settings.closeTimeoutMs)
  t.same(h.wire.log, ['terminate'])
})

t.test('RFC 7395 §3.6.1: with seeOtherUri the first <open/> is answered with <close see-other-uri/> and no upstream is opened', async (t) => {
  const h = new SessionHarness({ seeOtherUri: URI })
  h.client(OPEN())
  t.same(h.wire.log, [`client <close xmlns='${FRAMING_NS}' see-other-uri='${URI}'/>`], 'in place of <open/>')
  t.equal(h.upstream.opened, undefined, 'no upstream connection at all')
  t.equal(h.session.state, 'closing')
  h.client(`<message xmlns='jabber:client'><body>ignored</body></message>`)
  t.same(h.wire.log.length, 1, 'nothing after <close/> is processed')
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'see-other-uri', condition: 'see-other-uri' }])
  t.equal(h.clock.pending, 0)
})

t.test('RFC 7395 §3.6.1: a client that stays after the redirect gets close 1000 at closeTimeoutMs', async (t) => {
  const h = new SessionHarness({ seeOtherUri: URI })
  h.client(OPEN())
  h.mark()
  h.clock.advance(h.settings.closeTimeoutMs)
  t.same(h.wire.log, ['close 1000'])
})

t.test('seeOtherUri is written as an attribute value (escaped)', async (t) => {
  const h = new SessionHarness({ seeOtherUri: "wss://x.example/a?b=1&c='2'" })
  h.client(OPEN())
  t.match(h.wire.log[0], /see-other-uri='wss:\/\/x\.example\/a\?b=1&amp;c=&apos;2&apos;'/)
})
