/**
 * ClientStream: authentication and restarts — SASL success and the stream
 * restart, SASL2 success without one, and the pre-authentication deadline.
 */
import t from 'tap'
import { LINGER_AFTER_END_MS } from '../../../src/core/xmpp/client-stream.js'
import { FEATURES_BIND, FEATURES_BIND_OUT, FEATURES_PLAIN, LOOPBACK, OUR_CLOSE, OUR_HEADER, SASL2_NS, SASL_NS, StreamHarness, serverHeader , utf8 } from './fakes.js'

const AUTH = `<auth xmlns="${SASL_NS}" mechanism="PLAIN">AGFsaWNlAHNlY3JldA==</auth>`

t.test('RFC 6120 §6.4.6: SASL <success/> ends the pre-authentication period; the client gets it; restart() opens a new stream', async (t) => {
  const h = new StreamHarness().opened()
  t.equal(h.stream.send(utf8(AUTH)), true)
  h.server(`<success xmlns='${SASL_NS}'/>`)
  h.stream.restart()
  t.equal(h.stream.state, 'awaiting-header')
  h.server(serverHeader('s2') + FEATURES_BIND)
  t.same(h.wire.log, [`link write ${AUTH}`, 'sink authenticated', `sink element <success xmlns='${SASL_NS}'/>`, `link write ${OUR_HEADER}`, `sink opened ${FEATURES_BIND_OUT}`])
  t.same(
    h.sink.headers.map((header) => header.id),
    ['s1', 's2'],
  )
  t.equal(h.stream.state, 'open')
  h.mark()
  h.clock.advance(h.settings.preAuthTimeoutMs)
  t.same(h.wire.log, [], 'no pre-auth deadline any more')
  t.equal(h.clock.pending, 0)
})

t.test('RFC 6120 §4.3.3: after a restart the server stream is read by a fresh parser (its new <?xml?> and header are fine)', async (t) => {
  const h = new StreamHarness().opened()
  h.server(`<success xmlns='${SASL_NS}'/>`)
  h.stream.restart()
  h.mark()
  const bytes = Buffer.from(serverHeader('s2') + FEATURES_BIND + "<iq type='result' id='b1'/>", 'utf8')
  for (let i = 0; i < bytes.length; i++) h.stream.linkData(bytes.subarray(i, i + 1))
  t.same(h.wire.log, [`sink opened ${FEATURES_BIND_OUT}`, `sink element <iq type='result' id='b1'/>`])
})

t.test('XEP-0388 §2: SASL2 <success/> ends the pre-authentication period without a restart', async (t) => {
  const h = new StreamHarness().opened()
  h.server(`<success xmlns='${SASL2_NS}'><authorization-identifier>juliet@example.com/balcony</authorization-identifier></success><iq type='result' id='bind'/>`)
  t.same(h.wire.log, [
    'sink authenticated',
    `sink element <success xmlns='${SASL2_NS}'><authorization-identifier>juliet@example.com/balcony</authorization-identifier></success>`,
    `sink element <iq type='result' id='bind'/>`,
  ])
  t.equal(h.stream.state, 'open', 'the same stream goes on')
  h.mark()
  h.server(`<success xmlns='${SASL_NS}'/>`)
  t.same(h.wire.log, [`sink element <success xmlns='${SASL_NS}'/>`], 'a later <success/> is forwarded, not reported as a second authentication')
  h.mark()
  h.clock.advance(h.settings.preAuthTimeoutMs)
  t.same(h.wire.log, [])
})

t.test('a <success/> in another namespace does not end the pre-authentication period', async (t) => {
  const h = new StreamHarness().opened()
  h.server(`<success xmlns='urn:example:not-sasl'/><message><success/></message>`)
  t.same(h.wire.log, [`sink element <success xmlns='urn:example:not-sasl'/>`, `sink element <message><success/></message>`])
  h.clock.advance(h.settings.preAuthTimeoutMs)
  t.same(h.sink.ends, [{ kind: 'auth-timeout' }])
})

t.test('RFC 6120 §6.4.5: SASL <failure/> and no success: at preAuthTimeoutMs our stream is closed politely (auth-timeout), then the link is destroyed', async (t) => {
  const h = new StreamHarness().opened()
  h.stream.send(utf8(AUTH))
  h.server(`<failure xmlns='${SASL_NS}'><not-authorized/></failure>`)
  t.same(h.wire.log, [`link write ${AUTH}`, `sink element <failure xmlns='${SASL_NS}'><not-authorized/></failure>`])
  h.mark()
  h.clock.advance(h.settings.preAuthTimeoutMs - 1)
  t.same(h.wire.log, [], 'nothing at the deadline − 1 ms')
  h.clock.advance(1)
  t.same(h.wire.log, [`link write ${OUR_CLOSE}`, 'link end', 'sink end auth-timeout'])
  t.same(h.sink.ends, [{ kind: 'auth-timeout' }])
  t.equal(h.stream.state, 'closed')
  h.clock.advance(LINGER_AFTER_END_MS - 1)
  t.same(h.wire.log.slice(3), [], 'the link lingers for the server to close')
  h.clock.advance(1)
  t.same(h.wire.log.slice(3), ['link destroy'])
  t.equal(h.clock.pending, 0)
})

t.test('the pre-authentication period counts from open(): it runs through connecting and the restarts', async (t) => {
  const h = new StreamHarness()
  h.connect(LOOPBACK)
  h.clock.advance(1_000)
  h.server(serverHeader() + FEATURES_PLAIN)
  h.stream.restart() // a restart without success does not reset it
  h.server(serverHeader('s2') + FEATURES_PLAIN)
  h.mark()
  h.clock.advance(h.settings.preAuthTimeoutMs - 1_000 - 1)
  t.same(h.wire.log, [])
  h.clock.advance(1)
  t.same(h.wire.log, [`link write ${OUR_CLOSE}`, 'link end', 'sink end auth-timeout'])
})

t.test('a pre-authentication deadline that passes before the stream is open drops the link without a close tag', async (t) => {
  const h = new StreamHarness({ preAuthTimeoutMs: 5_000, connectTimeoutMs: 10_000 })
  h.open()
  h.mark()
  h.clock.advance(4_999)
  t.same(h.wire.log, [])
  h.clock.advance(1)
  t.same(h.wire.log, ['link destroy', 'sink end auth-timeout'], 'no stream of ours to close')
  t.equal(h.clock.pending, 0)
})

t.test('RFC 6120 §4.3.3: restart() is ignored while there is no stream to restart (connecting, STARTTLS, closing)', async (t) => {
  const h = new StreamHarness()
  h.open()
  h.stream.restart()
  t.same(h.wire.log, ['link connect'])
  const closing = new StreamHarness().opened()
  closing.stream.close()
  closing.stream.restart()
  t.same(closing.wire.log, [`link write ${OUR_CLOSE}`])
})

t.test('RFC 6120 §4.3.3: a stream restart resets the header; stanzas between restart and features go straight out', async (t) => {
  const h = new StreamHarness().opened()
  h.server(`<success xmlns='${SASL_NS}'/>`)
  h.stream.restart()
  h.mark()
  const bind = `<iq xmlns="jabber:client" type="set" id="b1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>`
  t.equal(h.stream.send(utf8(bind)), true)
  t.same(h.wire.log, [`link write ${bind}`], 'only the first stream holds client data back')
})
