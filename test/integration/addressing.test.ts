/**
 * Both transports give the same condition for the same mistake in the
 * requested domain: none at all is `improper-addressing` (RFC 6120
 * §4.9.3.7; XEP-0124 §17.2 for BOSH; what Prosody itself answers), one no
 * `upstream` rule serves is `host-unknown` (RFC 6120 §4.9.3.6). Nothing is
 * routed anywhere for either.
 */
import t from 'tap'
import { startCauseway } from '../helpers/causeway.js'
import { HTTPBIND, post } from '../helpers/bosh-raw.js'
import { eventually } from '../helpers/wait.js'
import { rawClient } from '../helpers/ws-client.js'
import { startFakeUpstream } from '../helpers/fake-upstream.js'

const cw = await startCauseway({ upstream: ['localhost=tcp://127.0.0.1:1'] })
t.teardown(() => cw.stop())

async function overWebSocket(attrs: string): Promise<string> {
  const raw = await rawClient(cw.wsUrl)
  raw.send(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'${attrs} version='1.0'/>`)
  await raw.closed
  return raw.messages.join('')
}

for (const [what, ws, bosh, condition] of [
  ['no domain', '', "rid='1' wait='5' hold='1' ver='1.6'", 'improper-addressing'],
  ['an empty domain', " to=''", "rid='1' to='' wait='5' hold='1' ver='1.6'", 'improper-addressing'],
  ['a domain not served', " to='elsewhere.example'", "rid='1' to='elsewhere.example' wait='5' hold='1' ver='1.6'", 'host-unknown'],
] as const) {
  t.test(`${what}: ${condition} on both transports`, async (t) => {
    t.match(await overWebSocket(ws), new RegExp(`<stream:error[^>]*><${condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>`), 'WebSocket')
    t.equal(await post(cw.boshUrl, `<body ${HTTPBIND} ${bosh}/>`), `<body ${HTTPBIND} type='terminate' condition='${condition}'/>`, 'BOSH')
  })
}

t.test('the session-ended line says why', async (t) => {
  const ended = () => cw.logLines().filter((l) => l.msg === 'session ended')
  await eventually('three lines', () => ended().length >= 3)
  const reasons = ended().map((l) => `${l.reason} ${l.condition}`)
  t.same(reasons, ['unknown-domain improper-addressing', 'unknown-domain improper-addressing', 'unknown-domain host-unknown'])
})

t.test('RFC 7395 §3.2: every message Causeway sends is a text frame, relayed stanzas included', async (t) => {
  const server = await startFakeUpstream('localhost')
  t.teardown(() => server.close())
  const relay = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${server.port}`] })
  t.teardown(() => relay.stop())
  const { WebSocket } = await import('ws')
  const socket = new WebSocket(relay.wsUrl, ['xmpp'])
  const frames: Array<{ binary: boolean; text: string }> = []
  socket.on('message', (data, isBinary) => frames.push({ binary: isBinary, text: data.toString() }))
  await new Promise((resolve) => socket.once('open', resolve))
  socket.send(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>`)
  const upstream = await server.nextOpened()
  upstream.socket.write(`<message from='x@localhost' id='m1'><body>relayed ✓</body></message>`)
  await eventually('the relayed stanza', () => frames.some((f) => f.text.includes('relayed ✓')))
  socket.close()
  t.ok(frames.length >= 3, 'open, features, the stanza')
  t.same(frames.filter((f) => f.binary).map((f) => f.text), [], 'none binary')
})
