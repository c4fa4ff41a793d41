/**
 * Moving a service with `seeOtherUri`: Strophe.js over WebSocket is told
 * RFC 7395 §3.6.1 `<close see-other-uri='ws://…'/>` by the old Causeway,
 * follows it and logs in at the new one; a BOSH creation at the old one gets
 * XEP-0124 §17.2 `see-other-uri` with the new BOSH URL in `<uri/>`. Real
 * Prosody, two in-process Causeways.
 */
import t from 'tap'
import { parse as parseXml } from 'ltx'
import { $iq } from 'strophe.js'
import { startCauseway } from '../helpers/causeway.js'
import { startProsody } from '../helpers/prosody.js'
import { connectStrophe } from '../helpers/strophe-client.js'
import { rawClient } from '../helpers/ws-client.js'

const ALICE = { username: 'alice', password: 'alice-moved-pw' }

t.test('seeOtherUri: clients are sent to the new service and log in there', async (t) => {
  const prosody = await startProsody({ users: [ALICE] })
  t.teardown(() => prosody.stop())
  const upstream = [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`]
  const target = await startCauseway({ upstream })
  t.teardown(() => target.stop())
  const old = await startCauseway({ upstream, seeOtherUri: target.httpUrl })
  t.teardown(() => old.stop())
  const sessionsAt = async (c: typeof old, transport: string) => {
    const text = await c.causeway.metrics.registry.metrics()
    return Number(new RegExp(`causeway_sessions_open\\{transport="${transport}"\\} (\\d+)`).exec(text)?.[1] ?? 0)
  }

  await t.test('RFC 7395 §3.6.1 on the wire: <close see-other-uri/> in place of <open/>, then the close handshake', async (t) => {
    const client = await rawClient(old.wsUrl, ['xmpp'])
    client.socket.send(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>`)
    const [first] = await client.waitFor(1)
    t.equal(first, `<close xmlns='urn:ietf:params:xml:ns:xmpp-framing' see-other-uri='${target.wsUrl}'/>`)
    client.socket.close(1000)
    await client.closed
    t.equal(await sessionsAt(old, 'websocket'), 0)
    t.match(await old.causeway.metrics.registry.metrics(), /causeway_session_closes_total\{transport="websocket",reason="see-other-uri",condition="see-other-uri"\} 1/)
  })

  await t.test('Strophe.js over WebSocket follows the redirect and logs in at the new service', async (t) => {
    const client = await connectStrophe(old.wsUrl, 'alice@localhost/moved', ALICE.password, {})
    t.teardown(() => client.disconnect())
    t.equal(client.connection.service, target.wsUrl, 'Strophe now talks to the new URL')
    t.equal(await sessionsAt(target, 'websocket'), 1, 'the session lives at the new service')
    t.equal(await sessionsAt(old, 'websocket'), 0, 'and not at the old one')
    // The login is real: the server answers a ping.
    const pong = await new Promise<string>((resolve) => {
      client.connection.sendIQ($iq({ type: 'get', to: 'localhost' }).c('ping', { xmlns: 'urn:xmpp:ping' }).tree(), () => resolve('result'), () => resolve('error'))
    })
    t.equal(pong, 'result')
  })

  await t.test('XEP-0124 §17.2: a BOSH creation gets see-other-uri with the new BOSH URL', async (t) => {
    const response = await fetch(old.boshUrl, {
      method: 'POST',
      headers: { 'content-type': 'text/xml; charset=utf-8' },
      body: `<body rid='1' to='localhost' wait='10' hold='1' ver='1.11' xmlns='http://jabber.org/protocol/httpbind'/>`,
    })
    t.equal(response.status, 200)
    const body = parseXml(await response.text())
    t.equal(body.attrs.type, 'terminate')
    t.equal(body.attrs.condition, 'see-other-uri')
    t.equal(body.getChildText('uri'), target.boshUrl)
    t.equal(await sessionsAt(old, 'bosh'), 0)
  })
})
