import t from 'tap'
import { BODY, FEATURES_OUT, FEATURES_XML, HEADER, Harness, upstreamElement } from './fakes.js'

const STREAM_NS = `xmlns:stream='http://etherx.jabber.org/streams'`
const XMPP_NS = `xmlns:xmpp='urn:xmpp:xbosh'`

t.test('XEP-0124 §7.2, XEP-0206 §4: the creation response carries the negotiated terms, stream identity and features', async (t) => {
  const h = new Harness({ create: `to='example.com' rid='100' wait='30' hold='1' ver='1.11' xml:lang='en' route='xmpp:xmpp.example.com:5222' secure='true' from='juliet@example.com' xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0'` })
  // §7.1 'route' and 'secure' are policy, checked by the registry and at stream open; the stream itself gets to/lang/from.
  t.same(h.upstream.opened, { to: 'example.com', lang: 'en', from: 'juliet@example.com' })
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

t.test('XEP-0206 §4: features handed over with the header answer at once', async (t) => {
  const h = new Harness()
  h.session.upstreamOpened(HEADER, upstreamElement(FEATURES_XML))
  t.match(h.creation.body, FEATURES_OUT)
})

t.test('XEP-0124 §10: without pausing offered, maxpause is left out', async (t) => {
  const h = new Harness({ options: { maxPauseMs: 0 } })
  h.open()
  t.notMatch(h.creation.body, 'maxpause')
})

t.test('XEP-0124 §8: payloads on the creation request are forwarded after the stream is requested', async (t) => {
  const h = new Harness({ createPayload: `<presence xmlns='jabber:client'/>` })
  t.same(h.wire.log, ['upstream open example.com', `upstream send <presence xmlns='jabber:client'/>`])
})
