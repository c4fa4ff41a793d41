/**
 * Causeway in front of ejabberd (not only Prosody): the same login,
 * presence, iq and messaging scenarios over WebSocket (@xmpp/client and
 * Strophe.js) and BOSH (Strophe.js), and across transports. ejabberd's own
 * session table (user_sessions_info) confirms each session really reached
 * the server and really ended with a clean close.
 */
import t from 'tap'
import { eventually } from '../helpers/wait.js'
import { $iq, $pres, Strophe } from 'strophe.js'
import { xml } from '@xmpp/client'
import type { Element as XmlElement } from 'ltx'
import { startEjabberd } from '../helpers/ejabberd.js'
import type { RunningEjabberd } from '../helpers/ejabberd.js'
import { startCauseway } from '../helpers/causeway.js'
import type { RunningCauseway } from '../helpers/causeway.js'
import { connectClient } from '../helpers/xmpp-client.js'
import type { TestClient } from '../helpers/xmpp-client.js'
import { connectStrophe } from '../helpers/strophe-client.js'
import type { StropheClient } from '../helpers/strophe-client.js'

// ASCII passwords: @xmpp/client 0.14 encodes PLAIN with btoa(), i.e. Latin-1, not UTF-8.
const ALICE = { username: 'alice', password: 'alice-secret-1 <&>' }
const BOB = { username: 'bob', password: 'bob-secret-2' }
const CAROL = { username: 'carol', password: 'carol-pw-3' }
const DAVE = { username: 'dave', password: 'dave-pw-4' }
const ERIN = { username: 'erin', password: 'erin-pw-5' }
const FRANK = { username: 'frank', password: 'frank-pw-6' }
const GINA = { username: 'gina', password: 'gina-pw-7' }

/** Message bodies that exercise escaping and unicode; one is 60 KB. */
function body(from: string, i: number): string {
  if (i === 100) return `${from} ${i} ` + 'Ωμέγα <&> '.repeat(6000).slice(0, 60_000)
  return `${from} ${i}: héllo 😀 中文 <&>'" ${'\u00a0'}end`
}
const range = (n: number) => Array.from({ length: n }, (_, i) => i)

// Strophe logs every BOSH request at DEBUG on the console; keep the TAP output readable.
Strophe.setLogLevel(Strophe.LogLevel.WARN)

const ejabberd = await startEjabberd({ users: [ALICE, BOB, CAROL, DAVE, ERIN, FRANK, GINA] })
t.teardown(async () => {
  if (!t.passing()) console.error(`--- ejabberd log (${ejabberd.dir}) ---\n${ejabberd.logText().split('\n').slice(-80).join('\n')}`)
  await ejabberd.stop()
})
const cw = await startCauseway({ upstream: [`${ejabberd.domain}=tcp://127.0.0.1:${ejabberd.c2sPort}`] })
t.teardown(() => cw.stop())
const { domain } = ejabberd

/** ejabberd's view: the resources `username` has online right now. */
const resources = async (server: RunningEjabberd, username: string) => (await server.sessions(username)).map((s) => s.resource).sort()


/** The SASL mechanism ejabberd says `user` authenticated with (its log line for the login). */
async function mechanismOf(user: string): Promise<string | undefined> {
  const line = await ejabberd.waitForLog(new RegExp(`Accepted c2s \\S+ authentication for ${user}@${domain}\\b`))
  return /Accepted c2s (\S+) authentication/.exec(line)?.[1]
}

/** Strophe has no XEP-0199 responder of its own: answer pings the way a client plugin would. */
function answerPings(client: StropheClient): void {
  client.connection.addHandler(
    (iq: Element) => {
      client.connection.send($iq({ type: 'result', to: iq.getAttribute('from') ?? '', id: iq.getAttribute('id') ?? '' }).tree())
      return true
    },
    'urn:xmpp:ping',
    'iq',
    'get',
  )
}

function sendIq(client: StropheClient, iq: ReturnType<typeof $iq>): Promise<Element> {
  return new Promise<Element>((resolve, reject) => client.connection.sendIQ(iq.tree(), resolve, (e: Element | null) => reject(new Error(`iq failed: ${e?.toString() ?? 'timeout'}`)), 10_000))
}

async function metrics(causeway: RunningCauseway): Promise<string> {
  return await causeway.causeway.metrics.registry.metrics()
}

t.test('WebSocket (@xmpp/client): login, presence, iq, messages and close against ejabberd', async (t) => {
  const clients: TestClient[] = []
  t.teardown(async () => {
    for (const c of clients) await c.stop().catch(() => {})
  })
  const alice = await connectClient({ service: cw.wsUrl, ...ALICE, domain, resource: 'web', mechanism: 'SCRAM-SHA-1' })
  clients.push(alice)
  const bob = await connectClient({ service: cw.wsUrl, ...BOB, domain, resource: 'phone', mechanism: 'PLAIN' })
  clients.push(bob)
  t.equal(alice.jid, `alice@${domain}/web`, 'alice logged in with SCRAM-SHA-1 and bound her resource')
  t.equal(bob.jid, `bob@${domain}/phone`, 'bob logged in with PLAIN and bound his resource')
  t.equal(await mechanismOf('alice'), 'SCRAM-SHA-1', 'ejabberd authenticated alice with SCRAM-SHA-1')
  t.equal(await mechanismOf('bob'), 'PLAIN', 'and bob with PLAIN')
  t.same(await resources(ejabberd, 'alice'), ['web'], 'ejabberd has alice\'s session')
  t.same(await resources(ejabberd, 'bob'), ['phone'], 'and bob\'s')
  t.equal(cw.causeway.websocket.sessions.size, 2, 'two WebSocket sessions in Causeway')

  t.test('directed presence arrives with the sender full JID', async (t) => {
    await alice.xmpp.send(xml('presence', { to: bob.jid }, xml('status', {}, 'here <&>')))
    const presence = await bob.waitForPresence(alice.jid)
    t.equal(presence.getChildText('status'), 'here <&>')
  })

  t.test('iq round trips: disco#info and roster with the server, ping to another client', async (t) => {
    const info = await alice.xmpp.iqCaller.request(xml('iq', { type: 'get', to: domain }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })))
    t.equal(info.attrs.type, 'result')
    t.equal(info.attrs.from, domain, 'answered by the server')
    const features = (info.getChild('query')?.getChildren('feature') ?? []).map((f: XmlElement) => f.attrs.var)
    t.ok(features.includes('jabber:iq:roster') || features.includes('urn:xmpp:ping'), `disco#info lists the server's features (${features.length})`)
    t.ok(info.getChild('query')?.getChildren('identity').some((i: XmlElement) => i.attrs.category === 'server'), 'and its server identity')

    const set = await alice.xmpp.iqCaller.request(
      xml('iq', { type: 'set' }, xml('query', { xmlns: 'jabber:iq:roster' }, xml('item', { jid: `bob@${domain}`, name: 'Bob <&> 😀' }, xml('group', {}, 'Friends')))),
    )
    t.equal(set.attrs.type, 'result', 'roster set accepted')
    const roster = await alice.xmpp.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })))
    const items = roster.getChild('query')?.getChildren('item') ?? []
    t.same(
      items.map((i: XmlElement) => [i.attrs.jid, i.attrs.name, i.getChildText('group')]),
      [[`bob@${domain}`, 'Bob <&> 😀', 'Friends']],
      'roster get returns exactly the item just set',
    )

    const pong = await alice.xmpp.iqCaller.request(xml('iq', { type: 'get', to: bob.jid }, xml('ping', { xmlns: 'urn:xmpp:ping' })))
    t.equal(pong.attrs.type, 'result')
    t.equal(pong.attrs.from, bob.jid, 'ping answered by bob himself')
  })

  t.test('200 messages each way arrive complete and in order', async (t) => {
    const count = 200
    const sends: Promise<void>[] = []
    for (let i = 0; i < count; i++) {
      sends.push(alice.xmpp.send(xml('message', { to: bob.jid, type: 'chat', id: `a${i}` }, xml('body', {}, body('alice', i)))))
      sends.push(bob.xmpp.send(xml('message', { to: alice.jid, type: 'chat', id: `b${i}` }, xml('body', {}, body('bob', i)))))
    }
    await Promise.all(sends)
    const atBob = await bob.waitForMessages(count, 60_000)
    const atAlice = await alice.waitForMessages(count, 60_000)
    t.same(atBob.map((m) => m.getChildText('body')), range(count).map((i) => body('alice', i)), 'bob got alice\'s bodies exactly, in order')
    t.same(atAlice.map((m) => m.getChildText('body')), range(count).map((i) => body('bob', i)), 'alice got bob\'s bodies exactly, in order')
    t.same(atBob.map((m) => m.attrs.id), range(count).map((i) => `a${i}`), 'ids kept')
    t.ok(atBob.every((m) => m.attrs.from === alice.jid && m.attrs.type === 'chat'), 'from alice\'s full JID, type chat')
    t.equal(atBob[100]?.getChildText('body')?.length, body('alice', 100).length, 'the 60 KB body is whole')
    await new Promise((resolve) => setTimeout(resolve, 200))
    t.equal(bob.messages.length, count, 'no duplicates at bob')
    t.equal(alice.messages.length, count, 'no duplicates at alice')
  })

  t.test('a clean close ends both sessions, in Causeway and in ejabberd', async (t) => {
    await alice.stop()
    await bob.stop()
    await eventually('Causeway to drop both sessions', () => cw.causeway.websocket.sessions.size === 0)
    t.equal(cw.causeway.websocket.sessions.size, 0, 'no WebSocket session left open')
    await eventually('ejabberd to drop both sessions', async () => (await resources(ejabberd, 'alice')).length + (await resources(ejabberd, 'bob')).length === 0)
    t.same(await resources(ejabberd, 'alice'), [], 'ejabberd ended alice\'s session')
    t.same(await resources(ejabberd, 'bob'), [], 'and bob\'s')
    const text = await metrics(cw)
    t.match(text, /causeway_session_closes_total\{transport="websocket",reason="client-close",condition="normal"\} 2\b/, 'both closes counted as normal')
    t.match(text, /causeway_sessions_open\{transport="websocket"\} 0\b/)
  })
})

t.test('BOSH (Strophe.js): login, presence, iq, messages, BOSH ↔ WebSocket, terminate against ejabberd', async (t) => {
  const erin = await connectStrophe(cw.boshUrl, `erin@${domain}/bosh`, ERIN.password)
  t.teardown(() => erin.disconnect())
  const frank = await connectStrophe(cw.boshUrl, `frank@${domain}/bosh`, FRANK.password)
  t.teardown(() => frank.disconnect())
  answerPings(frank)
  t.equal(erin.jid, `erin@${domain}/bosh`, 'erin logged in over BOSH and bound')
  t.equal(frank.jid, `frank@${domain}/bosh`, 'frank too')
  t.equal(cw.causeway.bosh.registry.size, 2, 'two BOSH sessions in Causeway')
  t.same(await resources(ejabberd, 'erin'), ['bosh'], 'ejabberd has erin\'s session')
  t.match(await mechanismOf('erin'), /^SCRAM-SHA-/, `Strophe chose a SCRAM mechanism (${String(await mechanismOf('erin'))})`)
  const gina = await connectClient({ service: cw.wsUrl, ...GINA, domain, resource: 'ws' })
  t.teardown(() => gina.stop())

  t.test('presence and iq round trips', async (t) => {
    erin.connection.send($pres({ to: frank.jid }).c('status').t('over <bosh> 😀').tree())
    const presence = await frank.waitFor((s) => s.nodeName === 'presence' && s.getAttribute('from') === erin.jid)
    t.equal(presence.getElementsByTagName('status')[0]?.textContent, 'over <bosh> 😀', 'directed presence with its status')

    const info = await sendIq(erin, $iq({ type: 'get', to: domain }).c('query', { xmlns: 'http://jabber.org/protocol/disco#info' }))
    t.equal(info.getAttribute('type'), 'result', 'disco#info to the server answered')
    t.ok(info.getElementsByTagName('feature').length > 0, 'with features')
    const roster = await sendIq(erin, $iq({ type: 'get' }).c('query', { xmlns: 'jabber:iq:roster' }))
    t.equal(roster.getAttribute('type'), 'result', 'roster get answered')
    t.equal(roster.getElementsByTagName('item').length, 0, 'erin\'s roster is empty')
    const pong = await sendIq(erin, $iq({ type: 'get', to: frank.jid }).c('ping', { xmlns: 'urn:xmpp:ping' }))
    t.equal(pong.getAttribute('type'), 'result', 'BOSH → BOSH ping answered')
    t.equal(pong.getAttribute('from'), frank.jid)
    const wsPong = await sendIq(erin, $iq({ type: 'get', to: gina.jid }).c('ping', { xmlns: 'urn:xmpp:ping' }))
    t.equal(wsPong.getAttribute('type'), 'result', 'BOSH → WebSocket ping answered')
    t.equal(wsPong.getAttribute('from'), gina.jid)
  })

  t.test('two BOSH users exchange 200 messages each way, in order', async (t) => {
    for (let i = 0; i < 200; i++) {
      erin.sendMessage(frank.jid, body('erin', i), `e${i}`)
      frank.sendMessage(erin.jid, body('frank', i), `f${i}`)
    }
    t.same(await frank.waitForBodies(200, 90_000), range(200).map((i) => body('erin', i)), 'frank got all of erin\'s, in order')
    t.same(await erin.waitForBodies(200, 90_000), range(200).map((i) => body('frank', i)), 'erin got all of frank\'s, in order')
    await new Promise((resolve) => setTimeout(resolve, 200))
    t.equal(frank.bodies.length, 200, 'no duplicates at frank')
    t.equal(erin.bodies.length, 200, 'no duplicates at erin')
  })

  t.test('BOSH and WebSocket sessions talk to each other', async (t) => {
    const before = erin.bodies.length
    for (let i = 0; i < 50; i++) {
      erin.sendMessage(gina.jid, body('erin→gina', i))
      await gina.xmpp.send(xml('message', { to: erin.jid, type: 'chat' }, xml('body', {}, body('gina→erin', i))))
    }
    const atGina = await gina.waitForMessages(50, 60_000)
    t.same(atGina.map((m) => m.getChildText('body')), range(50).map((i) => body('erin→gina', i)), 'gina (WebSocket) got erin\'s (BOSH), in order')
    t.ok(atGina.every((m) => m.attrs.from === erin.jid), 'from erin\'s full JID')
    t.same((await erin.waitForBodies(before + 50, 60_000)).slice(before), range(50).map((i) => body('gina→erin', i)), 'erin got gina\'s, in order')
    await new Promise((resolve) => setTimeout(resolve, 200))
    t.equal(gina.messages.length, 50, 'no duplicates at gina')
    t.equal(erin.bodies.length, before + 50, 'no duplicates at erin')
  })

  t.test('a clean terminate ends the sessions, in Causeway and in ejabberd', async (t) => {
    await frank.disconnect()
    await erin.disconnect()
    await gina.stop()
    await eventually('Causeway to drop the BOSH sessions', () => cw.causeway.bosh.registry.size === 0)
    t.equal(cw.causeway.bosh.registry.size, 0, 'no BOSH session left')
    await eventually('ejabberd to drop the sessions', async () => (await resources(ejabberd, 'erin')).length + (await resources(ejabberd, 'frank')).length === 0)
    t.same(await resources(ejabberd, 'erin'), [], 'ejabberd ended erin\'s session')
    t.same(await resources(ejabberd, 'frank'), [], 'and frank\'s')
    t.match(await metrics(cw), /causeway_sessions_open\{transport="bosh"\} 0\b/)
  })
})

t.test('WebSocket (Strophe.js) ↔ BOSH (Strophe.js): login and messages against ejabberd', async (t) => {
  const carol = await connectStrophe(cw.wsUrl, `carol@${domain}/strophe-ws`, CAROL.password)
  t.teardown(() => carol.disconnect())
  const dave = await connectStrophe(cw.boshUrl, `dave@${domain}/strophe-bosh`, DAVE.password)
  t.teardown(() => dave.disconnect())
  answerPings(dave)
  t.equal(carol.jid, `carol@${domain}/strophe-ws`, 'Strophe logged in over WebSocket and bound')
  t.equal(dave.jid, `dave@${domain}/strophe-bosh`, 'Strophe logged in over BOSH and bound')
  t.same(await resources(ejabberd, 'carol'), ['strophe-ws'], 'ejabberd has carol\'s session')

  const pong = await sendIq(carol, $iq({ type: 'get', to: dave.jid }).c('ping', { xmlns: 'urn:xmpp:ping' }))
  t.equal(pong.getAttribute('type'), 'result', 'WebSocket → BOSH ping answered')
  t.equal(pong.getAttribute('from'), dave.jid)

  for (let i = 0; i < 120; i++) {
    carol.sendMessage(dave.jid, body('carol', i), `c${i}`)
    dave.sendMessage(carol.jid, body('dave', i), `d${i}`)
  }
  t.same(await dave.waitForBodies(120, 90_000), range(120).map((i) => body('carol', i)), 'dave (BOSH) got every body, in order')
  t.same(await carol.waitForBodies(120, 90_000), range(120).map((i) => body('dave', i)), 'carol (WebSocket) got every body, in order')
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(carol.bodies.length, 120, 'no duplicates at carol')
  t.equal(dave.bodies.length, 120, 'no duplicates at dave')

  await carol.disconnect()
  await dave.disconnect()
  t.equal(carol.connection.connected, false, 'clean disconnect over WebSocket')
  await eventually('ejabberd to drop both sessions', async () => (await resources(ejabberd, 'carol')).length + (await resources(ejabberd, 'dave')).length === 0)
  t.pass('ejabberd ended both sessions')
})
