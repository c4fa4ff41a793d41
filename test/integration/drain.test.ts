/**
 * Graceful drain: readiness flips at once, new sessions are refused on both
 * transports, open sessions keep working for shutdownDrainMs, then end with
 * BOSH system-shutdown and WebSocket <close/>.
 */
import t from 'tap'
import { xml } from '@xmpp/client'
import { startProsody } from '../helpers/prosody.js'
import { startCauseway } from '../helpers/causeway.js'
import { connectClient } from '../helpers/xmpp-client.js'
import { connectStrophe } from '../helpers/strophe-client.js'
import { OPEN, rawClient } from '../helpers/ws-client.js'

const NS = "xmlns='http://jabber.org/protocol/httpbind'"

t.test('drain on shutdown', async (t) => {
  const prosody = await startProsody({ users: [{ username: 'kim', password: 'pw-k' }, { username: 'lee', password: 'pw-l' }] })
  t.teardown(() => prosody.stop())
  const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`], shutdownDrainMs: 1500 })
  t.teardown(() => cw.stop())
  const kim = await connectClient({ service: cw.wsUrl, username: 'kim', password: 'pw-k' })
  const lee = await connectStrophe(cw.boshUrl, 'lee@localhost/bosh', 'pw-l')
  const raw = await rawClient(cw.wsUrl)
  raw.send(OPEN())
  await raw.waitForMatch(/^<stream:features/)
  t.equal((await fetch(`${cw.httpUrl}/readyz`)).status, 200, 'ready before shutdown')

  const started = Date.now()
  const stopped = cw.causeway.shutdown()

  const ready = await fetch(`${cw.httpUrl}/readyz`)
  t.equal(ready.status, 503, '/readyz is not ready at once')
  t.match(await ready.json(), { status: 'draining' }, 'and says draining')
  const upgrade = await rawClient(cw.wsUrl).catch((e: { statusCode?: number }) => e)
  t.equal((upgrade as { statusCode?: number }).statusCode, 503, 'a new WebSocket upgrade is refused with 503')
  const creation = await fetch(cw.boshUrl, { method: 'POST', body: `<body ${NS} rid='1' to='localhost' wait='5' hold='1' ver='1.11'/>` })
  t.equal(creation.status, 503, 'a new BOSH session is refused with 503')
  t.equal(creation.headers.get('retry-after'), '5')

  await kim.xmpp.send(xml('message', { to: lee.jid, type: 'chat' }, xml('body', {}, 'sent while draining')))
  t.same(await lee.waitForBodies(1, 1000), ['sent while draining'], 'open sessions keep working during the drain')
  lee.sendMessage(kim.jid, 'answer while draining')
  t.equal((await kim.waitForMessages(1, 1000))[0]?.getChildText('body'), 'answer while draining')

  const closed = await raw.closed
  t.equal(raw.messages.at(-1), "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>", 'after the drain, WebSocket sessions get <close/>')
  t.equal(closed.code, 1001)
  t.ok(Date.now() - started >= 1400, `not before the drain period (${Date.now() - started} ms)`)
  await stopped
  t.ok(Date.now() - started < 10_000, 'and the server is down within its deadline')
  t.equal(cw.causeway.bosh.registry.size, 0, 'no BOSH session left')
  await kim.stop().catch(() => {})
})
