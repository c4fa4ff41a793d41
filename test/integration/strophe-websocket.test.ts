/**
 * Strophe.js (its Node build) over Causeway's WebSocket transport, talking
 * to an @xmpp/client session: login, presence, iq, 200 messages each way.
 */
import t from 'tap'
import { $iq, $pres, Strophe } from 'strophe.js'
import { xml } from '@xmpp/client'
import { startProsody } from '../helpers/prosody.js'
import { startCauseway } from '../helpers/causeway.js'
import { connectStrophe } from '../helpers/strophe-client.js'
import { connectClient } from '../helpers/xmpp-client.js'

const CAROL = { username: 'carol', password: 'carol-pw-3' }
const DAVE = { username: 'dave', password: 'dave-pw-4' }
const text = (i: number, who: string) => (i === 7 ? `${who} ${'Ж<&>'.repeat(15_000)}` : `${who} ${i} ‘quotes’ <&>'" 😀`)

t.test('Strophe.js over WebSocket', async (t) => {
  const prosody = await startProsody({ users: [CAROL, DAVE] })
  t.teardown(() => prosody.stop())
  const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`] })
  t.teardown(() => cw.stop())

  const carol = await connectStrophe(cw.wsUrl, 'carol@localhost/strophe', CAROL.password)
  t.teardown(() => carol.disconnect())
  t.equal(carol.jid, 'carol@localhost/strophe', 'Strophe logged in and bound')
  const dave = await connectClient({ service: cw.wsUrl, ...DAVE, resource: 'xmppjs' })
  t.teardown(() => dave.stop())

  carol.connection.send($pres({ to: dave.jid }).c('status').t('hi from strophe').tree())
  const presence = await dave.waitForPresence(carol.jid)
  t.equal(presence.getChildText('status'), 'hi from strophe')

  const result = await new Promise<Element>((resolve, reject) => {
    carol.connection.sendIQ($iq({ type: 'get', to: dave.jid }).c('ping', { xmlns: 'urn:xmpp:ping' }).tree(), resolve, reject, 5000)
  })
  t.equal(result.getAttribute('type'), 'result', 'iq round trip to the other client')
  t.equal(result.getAttribute('from'), dave.jid)

  for (let i = 0; i < 200; i++) {
    carol.sendMessage(dave.jid, text(i, 'carol'), `c${i}`)
    await dave.xmpp.send(xml('message', { to: carol.jid, type: 'chat' }, xml('body', {}, text(i, 'dave'))))
  }
  const atCarol = await carol.waitForBodies(200)
  const atDave = await dave.waitForMessages(200)
  t.same(atCarol, Array.from({ length: 200 }, (_, i) => text(i, 'dave')), 'Strophe got every body, in order')
  t.same(atDave.map((m) => m.getChildText('body')), Array.from({ length: 200 }, (_, i) => text(i, 'carol')), 'xmpp.js got every body, in order')

  await carol.disconnect()
  t.equal(carol.connection.connected, false, 'clean disconnect')
  t.ok(Strophe.Status.DISCONNECTED !== undefined)
})
