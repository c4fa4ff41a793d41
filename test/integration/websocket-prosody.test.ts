/**
 * RFC 7395 end to end: real @xmpp/client sessions through Causeway's
 * WebSocket transport to a real Prosody.
 */
import t from 'tap'
import { eventually } from '../helpers/wait.js'
import { xml } from '@xmpp/client'
import { startProsody } from '../helpers/prosody.js'
import { startCauseway } from '../helpers/causeway.js'
import { connectClient } from '../helpers/xmpp-client.js'
import type { TestClient } from '../helpers/xmpp-client.js'

const ALICE = { username: 'alice', password: 'alice-secret-1' }
const BOB = { username: 'bob', password: 'bob-secret-2' }

/** Message bodies that exercise escaping and unicode; one is 60 KB. */
function body(from: string, i: number): string {
  if (i === 100) return `${from} ${i} ` + 'Ωμέγα <&> '.repeat(6000).slice(0, 60_000)
  return `${from} ${i}: héllo 😀 中文 <&>'" ${'\u00a0'}end`
}

t.test('WebSocket: login, bind, messages, presence, iq, close against Prosody', async (t) => {
  const prosody = await startProsody({ users: [ALICE, BOB] })
  t.teardown(() => prosody.stop())
  const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`], logLevel: 'trace' })
  t.teardown(() => cw.stop())

  const clients: TestClient[] = []
  t.teardown(async () => {
    for (const c of clients) await c.stop().catch(() => {})
  })
  const alice = await connectClient({ service: cw.wsUrl, ...ALICE, resource: 'web', mechanism: 'SCRAM-SHA-1' })
  clients.push(alice)
  const bob = await connectClient({ service: cw.wsUrl, ...BOB, resource: 'phone', mechanism: 'PLAIN' })
  clients.push(bob)
  t.equal(alice.jid, 'alice@localhost/web', 'alice logged in with SCRAM-SHA-1 and bound her resource')
  t.equal(bob.jid, 'bob@localhost/phone', 'bob logged in with PLAIN and bound his resource')

  t.test('directed presence arrives with the sender full JID', async (t) => {
    await alice.xmpp.send(xml('presence', { to: bob.jid }, xml('status', {}, 'here <&>')))
    const presence = await bob.waitForPresence(alice.jid)
    t.equal(presence.getChildText('status'), 'here <&>')
  })

  t.test('iq round trips: to the server and to another client', async (t) => {
    const info = await alice.xmpp.iqCaller.request(xml('iq', { type: 'get', to: 'localhost' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })))
    t.equal(info.attrs.type, 'result')
    t.ok(info.getChild('query')?.getChildren('feature').length, 'disco#info lists features')
    const pong = await alice.xmpp.iqCaller.request(xml('iq', { type: 'get', to: bob.jid }, xml('ping', { xmlns: 'urn:xmpp:ping' })))
    t.equal(pong.attrs.type, 'result')
    t.equal(pong.attrs.from, bob.jid)
  })

  t.test('200 messages each way arrive complete and in order', async (t) => {
    const count = 200
    const sends: Promise<void>[] = []
    for (let i = 0; i < count; i++) {
      sends.push(alice.xmpp.send(xml('message', { to: bob.jid, type: 'chat', id: `a${i}` }, xml('body', {}, body('alice', i)))))
      sends.push(bob.xmpp.send(xml('message', { to: alice.jid, type: 'chat', id: `b${i}` }, xml('body', {}, body('bob', i)))))
    }
    await Promise.all(sends)
    const atBob = await bob.waitForMessages(count)
    const atAlice = await alice.waitForMessages(count)
    t.same(atBob.map((m) => m.getChildText('body')), Array.from({ length: count }, (_, i) => body('alice', i)), 'bob got alice\'s bodies exactly, in order')
    t.same(atAlice.map((m) => m.getChildText('body')), Array.from({ length: count }, (_, i) => body('bob', i)), 'alice got bob\'s bodies exactly, in order')
    t.same(atBob.map((m) => m.attrs.id), Array.from({ length: count }, (_, i) => `a${i}`))
    t.equal(atBob[100]?.getChildText('body')?.length, body('alice', 100).length, 'the 60 KB body is whole')
    t.equal(bob.messages.length, count, 'no duplicates at bob')
    t.equal(alice.messages.length, count, 'no duplicates at alice')
  })

  t.test('a clean close ends both sessions and is counted', async (t) => {
    await alice.stop()
    await bob.stop()
    await eventually('both WebSocket sessions to end', () => cw.causeway.websocket.sessions.size === 0)
    t.equal(cw.causeway.websocket.sessions.size, 0, 'no session left open')
    const metrics = await cw.causeway.metrics.registry.metrics()
    t.match(metrics, /causeway_session_closes_total\{transport="websocket",reason="client-close",condition="normal"\} 2/)
    t.match(metrics, /causeway_sessions_open\{transport="websocket"\} 0/)
    t.match(metrics, /causeway_stanzas_total\{transport="websocket",direction="to_upstream"\} \d+/)
  })

  t.test('even at trace level, no password, SASL payload or message body reaches the logs', async (t) => {
    const logs = cw.logText()
    t.ok(logs.length > 1000, 'there are logs to search')
    t.match(logs, /"stanza":\{"name":"auth","bytes":\d+\}/, 'the SASL <auth/> is logged as a bare summary')
    for (const secret of [ALICE.password, BOB.password, Buffer.from(`\0bob\0${BOB.password}`).toString('base64'), 'héllo']) {
      t.notOk(logs.includes(secret), `no trace of ${JSON.stringify(secret.slice(0, 6))}…`)
    }
    const lines = cw.logLines()
    t.ok(lines.every((line) => typeof line.sid === 'string' || !('transport' in line)), 'session lines carry their sid')
    t.ok(lines.some((line) => line.transport === 'websocket' && typeof line.remote === 'string'), 'and transport and remote address')
  })
})
