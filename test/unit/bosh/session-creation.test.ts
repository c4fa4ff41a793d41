import t from 'tap'
import { BODY, FEATURES_OUT, FEATURES_XML, HEADER, Harness, upstreamElement } from './fakes.js'

const STREAM_NS = `xmlns:stream='http://etherx.jabber.org/streams'`
const XMPP_NS = `xmlns:xmpp='urn:xmpp:xbosh'`

t.test('XEP-0124 §7.2, XEP-0206 §4: the creation response carries the negotiated terms, stream identity and features', async (t) => {
  const h = new Harness({ create: `to='example.com' rid='100' wait='30' hold='1' ver='1.11' xml:lang='en' route='xmpp:xmpp.example.com:5222' secure='true' from='juliet@example.com' xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0'` })
  t.same(h.upstream.opened, {
    to: 'example.com',
    lang: 'en',
    from: 'juliet@example.com',
    version: '1.0',
    route: { proto: 'xmpp', host: 'xmpp.example.com', port: 5222 },
    secure: true,
  })
  t.equal(h.creation.answered, false, 'nothing before the upstream stream opens')
  h.open()
  t.equal(
    h.creation.body,
    `${BODY} ${XMPP_NS} ${STREAM_NS} sid='sid1' wait='30' requests='2' hold='1' inactivity='60' polling='2' maxpause='120' ver='1.11'` +
      ` from='example.com' secure='true' authid='stream-1' xmpp:version='1.0' xmpp:restartlogic='true'>${FEATURES_OUT}</body>`,
  )
  t.equal(h.creation.reply.contentType, 'text/xml; charset=utf-8')
  t.equal(h.session.state, 'open')
})

t.test('XEP-0206 §4: when the features follow the header separately, the creation response waits for them', async (t) => {
  const h = new Harness()
  h.session.upstreamOpened(HEADER)
  t.equal(h.creation.answered, false, 'header alone is not enough')
  t.equal(h.session.state, 'connecting')
  h.session.upstreamElement(upstreamElement(FEATURES_XML))
  t.match(h.creation.body, `authid='stream-1'`)
  t.match(h.creation.body, FEATURES_OUT)
})

t.test('XEP-0206 §4: features handed over with the header answer at once', async (t) => {
  const h = new Harness()
  h.session.upstreamOpened(HEADER, upstreamElement(FEATURES_XML))
  t.match(h.creation.body, FEATURES_OUT)
})

t.test('XEP-0206 §4: a stream without version 1.0 has no features; the header alone completes creation', async (t) => {
  const h = new Harness()
  h.session.upstreamOpened({ id: 'old', secure: false })
  t.equal(
    h.creation.body,
    `${BODY} ${XMPP_NS} sid='sid1' wait='30' requests='2' hold='1' inactivity='60' polling='2' maxpause='120' ver='1.11'` +
      ` from='example.com' authid='old' xmpp:version='1.0' xmpp:restartlogic='true'/>`,
  )
})

t.test('XEP-0206 §4: if wait expires first, the features and stream attributes come in a later response', async (t) => {
  const h = new Harness()
  h.clock.advance(29_999)
  t.equal(h.creation.answered, false)
  h.clock.advance(1)
  t.equal(
    h.creation.body,
    `${BODY} ${XMPP_NS} sid='sid1' wait='30' requests='2' hold='1' inactivity='60' polling='2' maxpause='120' ver='1.11' xmpp:version='1.0' xmpp:restartlogic='true'/>`,
  )
  const poll = h.send(`rid='101'`)
  h.open()
  t.equal(poll.body, `${BODY} ${XMPP_NS} ${STREAM_NS} from='example.com' secure='true' authid='stream-1' xmpp:version='1.0'>${FEATURES_OUT}</body>`)
  const next = h.send(`rid='102'`)
  h.fromServer(`<message from='a@example.com'><body>x</body></message>`)
  t.equal(next.body, `${BODY}><message from="a@example.com" xmlns="jabber:client"><body>x</body></message></body>`, 'stream attributes go out once')
})

t.test('XEP-0124 §12: a polling session (hold=0) gets its creation response immediately', async (t) => {
  const h = new Harness({ create: `to='example.com' rid='100' wait='30' hold='0' ver='1.11'` })
  t.equal(
    h.creation.body,
    `${BODY} ${XMPP_NS} sid='sid1' wait='30' requests='2' hold='0' inactivity='64' polling='2' maxpause='120' ver='1.11' xmpp:version='1.0' xmpp:restartlogic='true'/>`,
  )
  h.open()
  h.clock.advance(2000)
  const poll = h.send(`rid='101'`)
  t.match(poll.body, FEATURES_OUT, 'the next poll collects the features')
})

t.test('XEP-0124 §7.2: wait and hold are capped, ver is the lower one, ack echoes the rid, content sets the type', async (t) => {
  const h = new Harness({ create: `to='example.com' rid='7' wait='300' hold='3' ver='1.6' ack='1' content='text/html; charset=utf-8'` })
  h.open()
  t.equal(
    h.creation.body,
    `${BODY} ${XMPP_NS} ${STREAM_NS} sid='sid1' wait='60' requests='2' hold='1' inactivity='60' polling='2' maxpause='120' ver='1.6' ack='7'` +
      ` from='example.com' secure='true' authid='stream-1' xmpp:version='1.0' xmpp:restartlogic='true'>${FEATURES_OUT}</body>`,
  )
  t.equal(h.creation.reply.contentType, 'text/html; charset=utf-8')
})

t.test('XEP-0124 §10: without pausing offered, maxpause is left out', async (t) => {
  const h = new Harness({ options: { maxPauseSeconds: 0 } })
  h.open()
  t.notMatch(h.creation.body, 'maxpause')
})

t.test('XEP-0124 §8: payloads on the creation request are forwarded after the stream is requested', async (t) => {
  const h = new Harness({ createPayload: `<presence xmlns='jabber:client'/>` })
  t.same(h.wire.log, ['upstream open example.com', 'upstream send <presence xmlns="jabber:client"/>'])
})
