import t from 'tap'
import { BODY, Harness, upstreamElement } from './fakes.js'

const XMPP = `xmlns:xmpp='urn:xmpp:xbosh'`
const BIND_FEATURES = `<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>`
const BIND_OUT = `<stream:features><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></stream:features>`

/** Through SASL: <auth/> sent, <success/> received. */
function authenticatedUpTo(h: Harness): void {
  h.open()
  h.send(`rid='101'`, `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABy</auth>`)
  h.fromServer(`<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`)
  // The client-stream core saw <success/> (test/unit/client-stream.test.ts covers how).
  h.session.upstreamAuthenticated()
  h.mark()
}

t.test('XEP-0206 §5: xmpp:restart restarts the upstream stream and the new features answer the request', async (t) => {
  const h = new Harness()
  authenticatedUpTo(h)
  const restart = h.send(`rid='102' ${XMPP} xmpp:restart='true' to='example.com' xml:lang='en'`)
  t.equal(h.session.state, 'restarting')
  t.same(h.wire.log, ['upstream restart'])
  t.equal(restart.answered, false, 'held until the new stream opens')
  h.session.upstreamOpened({ id: 'stream-2', from: 'example.com', version: '1.0', secure: true }, upstreamElement(BIND_FEATURES))
  t.equal(restart.body, `${BODY} xmlns:stream='http://etherx.jabber.org/streams'>${BIND_OUT}</body>`)
  t.equal(h.session.state, 'open')
  t.equal(h.session.authenticated, true)
})

t.test('XEP-0206 §5: restart before the stream is open is bad-request', async (t) => {
  const h = new Harness({ create: `to='example.com' rid='100' wait='30' hold='0' ver='1.11'` }) // answered before features
  const restart = h.send(`rid='101' ${XMPP} xmpp:restart='true'`)
  t.equal(restart.body, `${BODY} type='terminate' condition='bad-request'/>`)
  t.same(h.ends, [{ reason: 'bad-input', condition: 'bad-request', text: 'restart while connecting' }])
})

t.test('pre-auth lifetime: an auth-timeout from the upstream ends the session with policy-violation', async (t) => {
  const h = new Harness()
  h.open()
  const r101 = h.send(`rid='101'`)
  h.session.upstreamClosed({ kind: 'auth-timeout' })
  t.equal(r101.body, `${BODY} type='terminate' condition='policy-violation'/>`)
  t.same(h.ends, [{ reason: 'auth-timeout', condition: 'policy-violation', text: 'authentication not completed in time' }])
  t.equal(h.upstream.closed, 0, 'the client stream closed itself')
})

t.test('pre-auth lifetime: with no request held, the client learns the reason on its next request', async (t) => {
  const h = new Harness()
  h.open()
  h.send(`rid='101'`)
  h.clock.advance(30_000) // wait expires; nothing held
  h.session.upstreamClosed({ kind: 'auth-timeout' })
  t.equal(h.session.state, 'terminated')
  t.equal(h.disposed, 0, 'kept to tell the client')
  const late = h.send(`rid='102'`)
  t.equal(late.body, `${BODY} type='terminate' condition='policy-violation'/>`)
  t.equal(h.disposed, 1)
})

t.test('authentication is reported once the upstream says so, restart or not (SASL2 has none)', async (t) => {
  const h = new Harness()
  h.open()
  t.equal(h.session.authenticated, false)
  h.session.upstreamAuthenticated()
  t.equal(h.session.authenticated, true)
  t.equal(h.observer.authentications, 1)
})
