/**
 * XEP-0124/0206 end to end: Strophe.js over Causeway's BOSH to a real
 * Prosody, talking to a WebSocket session through the same Causeway.
 */
import t from 'tap'
import { eventually } from '../helpers/wait.js'
import { $iq, $pres } from 'strophe.js'
import { xml } from '@xmpp/client'
import { startProsody } from '../helpers/prosody.js'
import { startCauseway } from '../helpers/causeway.js'
import { connectStrophe } from '../helpers/strophe-client.js'
import { NodeXMLHttpRequest } from '../helpers/xhr-shim.js'
import { connectClient } from '../helpers/xmpp-client.js'

const ERIN = { username: 'erin', password: 'erin-pw-5' }
const FRANK = { username: 'frank', password: 'frank-pw-6' }
const GINA = { username: 'gina', password: 'gina-pw-7' }
const text = (i: number, who: string) => (i === 50 ? `${who} ${'Ωμέγα <&> '.repeat(6000).slice(0, 60_000)}` : `${who} ${i}: ‘unicode’ 😀 中文 <&>'"`)

t.test('Strophe.js over BOSH', async (t) => {
  const prosody = await startProsody({ users: [ERIN, FRANK, GINA] })
  t.teardown(() => prosody.stop())
  const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`] })
  t.teardown(() => cw.stop())

  const erin = await connectStrophe(cw.boshUrl, 'erin@localhost/bosh', ERIN.password)
  t.teardown(() => erin.disconnect())
  t.equal(erin.jid, 'erin@localhost/bosh', 'logged in over BOSH and bound')
  t.equal(cw.causeway.bosh.registry.size, 1, 'one BOSH session in the registry')

  const frank = await connectStrophe(cw.boshUrl, 'frank@localhost/bosh', FRANK.password)
  t.teardown(() => frank.disconnect())
  const gina = await connectClient({ service: cw.wsUrl, ...GINA, resource: 'ws' })
  t.teardown(() => gina.stop())

  t.test('presence and iq round trips', async (t) => {
    erin.connection.send($pres({ to: frank.jid }).c('status').t('over <bosh>').tree())
    const presence = await frank.waitFor((s) => s.nodeName === 'presence' && s.getAttribute('from') === erin.jid)
    t.equal(presence.getElementsByTagName('status')[0]?.textContent, 'over <bosh>')
    const pong = await new Promise<Element>((resolve, reject) =>
      erin.connection.sendIQ($iq({ type: 'get', to: gina.jid }).c('ping', { xmlns: 'urn:xmpp:ping' }).tree(), resolve, reject, 5000),
    )
    t.equal(pong.getAttribute('type'), 'result', 'BOSH → WebSocket iq answered')
    const info = await new Promise<Element>((resolve, reject) =>
      erin.connection.sendIQ($iq({ type: 'get', to: 'localhost' }).c('query', { xmlns: 'http://jabber.org/protocol/disco#info' }).tree(), resolve, reject, 5000),
    )
    t.equal(info.getAttribute('type'), 'result', 'iq to the server answered')
  })

  t.test('two BOSH users exchange 200 messages each way, in order', async (t) => {
    for (let i = 0; i < 200; i++) {
      erin.sendMessage(frank.jid, text(i, 'erin'))
      frank.sendMessage(erin.jid, text(i, 'frank'))
    }
    t.same(await frank.waitForBodies(200, 60_000), Array.from({ length: 200 }, (_, i) => text(i, 'erin')), 'frank got all of erin\'s, in order')
    t.same(await erin.waitForBodies(200, 60_000), Array.from({ length: 200 }, (_, i) => text(i, 'frank')), 'erin got all of frank\'s, in order')
    t.equal(frank.bodies.length, 200, 'no duplicates at frank')
    t.equal(erin.bodies.length, 200, 'no duplicates at erin')
  })

  t.test('BOSH and WebSocket sessions talk to each other', async (t) => {
    const before = erin.bodies.length
    for (let i = 0; i < 50; i++) {
      erin.sendMessage(gina.jid, text(i, 'erin→gina'))
      await gina.xmpp.send(xml('message', { to: erin.jid, type: 'chat' }, xml('body', {}, text(i, 'gina→erin'))))
    }
    const atGina = await gina.waitForMessages(50)
    t.same(atGina.map((m) => m.getChildText('body')), Array.from({ length: 50 }, (_, i) => text(i, 'erin→gina')))
    t.same((await erin.waitForBodies(before + 50)).slice(before), Array.from({ length: 50 }, (_, i) => text(i, 'gina→erin')))
  })

  t.test('XEP-0124 §14.3: a lost response is recovered by resending the same rid', async (t) => {
    const frankBefore = frank.bodies.length
    const erinBefore = erin.bodies.length
    let dropped: string | undefined
    // Lose the response to erin's next request: it is held, so it will carry frank's reply.
    NodeXMLHttpRequest.dropResponse = (body) => {
      if (dropped === undefined && body.includes('lost-in-transit')) {
        dropped = body
        return true
      }
      return false
    }
    t.teardown(() => (NodeXMLHttpRequest.dropResponse = undefined))
    const retransmissionsBefore = await metric(cw, 'causeway_bosh_retransmissions_total')
    erin.sendMessage(frank.jid, 'lost-in-transit')
    t.same((await frank.waitForBodies(frankBefore + 1)).slice(frankBefore), ['lost-in-transit'])
    frank.sendMessage(erin.jid, 'carried by the lost response')
    // Strophe resends a dead request after a back-off of sends³ seconds (8 s for the first retry).
    const got = await erin.waitForBodies(erinBefore + 1, 20_000)
    t.same(got.slice(erinBefore), ['carried by the lost response'], 'the stanza in the lost response arrived')
    t.ok(dropped, 'a response was really dropped')
    const rid = /rid=['"](\d+)['"]/.exec(dropped ?? '')?.[1]
    t.equal(NodeXMLHttpRequest.sent.filter((b) => new RegExp(`rid=['"]${rid}['"]`).test(b)).length, 2, `rid ${rid} was sent twice`)
    t.equal(await metric(cw, 'causeway_bosh_retransmissions_total'), retransmissionsBefore + 1, 'and answered from the response cache')
    await new Promise((r) => setTimeout(r, 300))
    t.equal(erin.bodies.length, erinBefore + 1, 'delivered exactly once')
    t.equal(frank.bodies.length, frankBefore + 1, 'the resent payload was not delivered upstream again')
  })

  t.test('a clean terminate ends the session', async (t) => {
    await frank.disconnect()
    await erin.disconnect()
    await eventually('the BOSH sessions to end', () => cw.causeway.bosh.registry.size === 0)
    t.equal(cw.causeway.bosh.registry.size, 0, 'no BOSH session left')
    t.match(await cw.causeway.metrics.registry.metrics(), /causeway_sessions_open\{transport="bosh"\} 0/)
    t.match(await cw.causeway.metrics.registry.metrics(), /causeway_bytes_total\{transport="bosh",direction="to_client"\} [1-9]\d{5,}/, 'bytes to BOSH clients are counted (over 100 KB of messages)')
  })
})

async function metric(cw: { causeway: { metrics: { registry: { metrics(): Promise<string> } } } }, name: string): Promise<number> {
  const text = await cw.causeway.metrics.registry.metrics()
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(text)
  return Number(match?.[1] ?? 0)
}
