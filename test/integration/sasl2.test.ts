/**
 * XEP-0388 (SASL2) through Causeway over both transports. SASL2 success has
 * no stream restart, so a connection manager that counts a client as
 * authenticated only after SASL success plus a restart would cut a SASL2
 * client off at the pre-authentication deadline. One client-stream core
 * decides for both transports; Prosody 0.12 does not speak SASL2, so a
 * scriptable upstream plays the server. Deadlines run on a test clock.
 */
import t from 'tap'
import type { Test } from 'tap'
import { startCauseway } from '../helpers/causeway.js'
import { startFakeUpstream } from '../helpers/fake-upstream.js'
import type { FakeConnection } from '../helpers/fake-upstream.js'
import { HTTPBIND, post } from '../helpers/bosh-raw.js'
import { eventually } from '../helpers/wait.js'
import { OPEN, rawClient } from '../helpers/ws-client.js'
import { ManualClock } from '../support/manual-clock.js'

const SASL2 = 'urn:xmpp:sasl:2'
/** What a SASL2 server offers, channel binding included (the client must not see that through a relay). */
const SASL2_FEATURES =
  `<stream:features><authentication xmlns='${SASL2}'><mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism>PLAIN</mechanism></authentication>` +
  `<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-exporter'/></sasl-channel-binding></stream:features>`
const AUTHENTICATE = `<authenticate xmlns='${SASL2}' mechanism='PLAIN'><initial-response>AGFsaWNlAHNlY3JldA==</initial-response></authenticate>`
const SUCCESS = `<success xmlns='${SASL2}'><authorization-identifier>alice@localhost/web</authorization-identifier></success>`
const PRE_AUTH_MS = 30_000

async function setup(t: Test) {
  const clock = new ManualClock()
  const upstream = await startFakeUpstream('localhost', SASL2_FEATURES)
  t.teardown(() => upstream.close())
  const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${upstream.port}`], preAuthTimeoutMs: PRE_AUTH_MS, boshCoalesceMs: 0 }, { clock })
  t.teardown(() => cw.stop())
  return { clock, upstream, cw }
}

const receivedAuthenticate = (fake: FakeConnection) => eventually('the server to receive <authenticate/>', () => fake.received().includes(`mechanism="PLAIN"`) || fake.received().includes(`mechanism='PLAIN'`))

t.test('XEP-0388 over WebSocket: SASL2 success ends the pre-authentication period without a restart', async (t) => {
  const { clock, upstream, cw } = await setup(t)
  const client = await rawClient(cw.wsUrl)
  client.send(OPEN())
  const features = await client.waitForMatch(/^<stream:features/)
  t.match(features, /<authentication xmlns="urn:xmpp:sasl:2"><mechanism>PLAIN<\/mechanism><\/authentication>/, 'SASL2 offered, PLAIN only')
  t.notMatch(features, /-PLUS|sasl-channel-binding/, 'channel binding is hidden: it binds to a TLS channel the client is not on')
  const fake = await upstream.nextOpened()
  client.send(AUTHENTICATE)
  await receivedAuthenticate(fake)
  fake.socket.write(SUCCESS)
  await client.waitForMatch(/^<success xmlns=['"]urn:xmpp:sasl:2['"]>/)

  clock.advance(PRE_AUTH_MS)
  client.send(`<message xmlns='jabber:client' to='bob@localhost' id='after'><body>still here</body></message>`)
  await eventually('the message after the deadline to reach the server', () => fake.received().includes('<body>still here</body>'))
  t.equal(client.socket.readyState, client.socket.OPEN, 'the session outlived the pre-authentication deadline')
  t.notMatch(client.messages.join(''), /policy-violation/)
  client.socket.close()
})

t.test('XEP-0388 over BOSH: SASL2 success ends the pre-authentication period without a restart', async (t) => {
  const { clock, upstream, cw } = await setup(t)
  const created = await post(cw.boshUrl, `<body ${HTTPBIND} rid='100' to='localhost' wait='60' hold='1' ver='1.11'/>`)
  const sid = /sid='([^']+)'/.exec(created)?.[1] ?? ''
  t.ok(sid, 'session created')
  t.match(created, /<authentication xmlns="urn:xmpp:sasl:2"><mechanism>PLAIN<\/mechanism><\/authentication>/)
  t.notMatch(created, /-PLUS|sasl-channel-binding/)
  const fake = await upstream.nextOpened()
  const answer = post(cw.boshUrl, `<body ${HTTPBIND} sid='${sid}' rid='101'>${AUTHENTICATE}</body>`)
  await receivedAuthenticate(fake)
  fake.socket.write(SUCCESS)
  t.match(await answer, /<success xmlns=['"]urn:xmpp:sasl:2['"]>/, 'SASL2 success delivered')

  clock.advance(PRE_AUTH_MS)
  const after = post(cw.boshUrl, `<body ${HTTPBIND} sid='${sid}' rid='102'><message xmlns='jabber:client' to='bob@localhost'><body>still here</body></message></body>`)
  await eventually('the message after the deadline to reach the server', () => fake.received().includes('<body>still here</body>'))
  clock.advance(60_000) // the request's 'wait': it is answered empty, the session lives on
  t.equal(await after, `<body ${HTTPBIND}/>`, 'the session outlived the pre-authentication deadline')
  t.match(await post(cw.boshUrl, `<body ${HTTPBIND} sid='${sid}' rid='103' type='terminate'/>`), /type='terminate'/)
})

t.test('without success, the same deadline ends the session on both transports (policy-violation)', async (t) => {
  const { clock, cw } = await setup(t)
  const client = await rawClient(cw.wsUrl)
  client.send(OPEN())
  await client.waitForMatch(/^<stream:features/)
  const created = await post(cw.boshUrl, `<body ${HTTPBIND} rid='200' to='localhost' wait='60' hold='1' ver='1.11'/>`)
  const sid = /sid='([^']+)'/.exec(created)?.[1] ?? ''
  const held = post(cw.boshUrl, `<body ${HTTPBIND} sid='${sid}' rid='201'/>`)
  await eventually('the BOSH request to be held', async () => /causeway_bosh_held_requests 1\b/.test(await cw.causeway.metrics.registry.metrics()))
  clock.advance(PRE_AUTH_MS)
  await client.closed
  t.match(client.messages.join(''), /<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/)
  t.equal(await held, `<body ${HTTPBIND} type='terminate' condition='policy-violation'/>`)
})
