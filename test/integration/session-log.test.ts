/**
 * One line per session, as operators read it: every session ends with
 * exactly one `info` line ("session ended") on both transports, carrying the
 * session id digest, transport, client address, Origin, domain, duration,
 * stanzas and bytes each way, the end reason and condition, and whether the
 * client authenticated; the bound JID only with `logJid`. Nothing else at
 * `info` per session. A wrong password is counted by domain and logged
 * without any credential; a refused Origin is logged once per interval with
 * the remedy; an unreachable upstream once per cause, at warn.
 * Against a real Prosody, with @xmpp/client, Strophe.js and raw clients.
 */
import { client, xml } from '@xmpp/client'
import t from 'tap'
import type { Test } from 'tap'
import { startCauseway } from '../helpers/causeway.js'
import type { RunningCauseway } from '../helpers/causeway.js'
import { startProsody } from '../helpers/prosody.js'
import { connectStrophe } from '../helpers/strophe-client.js'
import { eventually } from '../helpers/wait.js'
import { OPEN, rawClient } from '../helpers/ws-client.js'
import { connectClient } from '../helpers/xmpp-client.js'

const ALICE = { username: 'alice', password: 'alice-pw-6f2a1c' }
const BOB = { username: 'bob', password: 'bob-pw-93e0dd' }
const WRONG = 'wrong-password-c0ffee42'

const prosody = await startProsody({ users: [ALICE, BOB], scramIterations: 4096 })
t.teardown(() => prosody.stop())
const upstream = [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`]

type Line = Record<string, unknown>
const INFO = 30
const WARN = 40
const ended = (cw: RunningCauseway): Line[] => cw.logLines().filter((l) => l.msg === 'session ended')
const infoFor = (cw: RunningCauseway, sid: unknown): Line[] => cw.logLines().filter((l) => l.sid === sid && Number(l.level) >= INFO)

/** The fields every session-ended line has, with their types. */
function assertShape(t: Test, line: Line | undefined, transport: string): void {
  t.ok(line, `a ${transport} session-ended line`)
  if (!line) return
  t.equal(line.level, INFO)
  t.match(line.sid, /^[0-9a-f]{16}$/, 'sid is a 16-hex digest')
  t.equal(line.transport, transport)
  t.equal(line.remote, '127.0.0.1')
  for (const key of ['durationMs', 'stanzasIn', 'stanzasOut', 'bytesIn', 'bytesOut']) t.type(line[key], 'number', key)
  t.type(line.authenticated, 'boolean')
  t.type(line.reason, 'string')
  t.type(line.condition, 'string')
}

t.test('WebSocket and BOSH: exactly one info line per session, with every field; no JID without logJid', async (t) => {
  const cw = await startCauseway({ upstream })
  t.teardown(() => cw.stop())
  const alice = await connectClient({ service: cw.wsUrl, ...ALICE, resource: 'ws' })
  const bob = await connectStrophe(cw.boshUrl, 'bob@localhost/bosh', BOB.password)
  await alice.xmpp.send(xml('message', { to: 'bob@localhost/bosh', type: 'chat' }, xml('body', {}, 'hi bob')))
  t.same(await bob.waitForBodies(1), ['hi bob'])
  bob.sendMessage('alice@localhost/ws', 'hi alice')
  await alice.waitForMessages(1)
  await alice.stop()
  await bob.disconnect()
  const lines = await eventually('two session-ended lines', () => (ended(cw).length >= 2 ? ended(cw) : undefined))
  const ws = lines.find((l) => l.transport === 'websocket')
  const bosh = lines.find((l) => l.transport === 'bosh')
  assertShape(t, ws, 'websocket')
  assertShape(t, bosh, 'bosh')
  for (const line of [ws, bosh]) {
    t.equal(line?.domain, 'localhost', 'the domain')
    t.equal(line?.authenticated, true, 'authenticated')
    t.equal(line?.reason, 'client-close')
    t.equal(line?.condition, 'normal')
    t.ok(Number(line?.stanzasIn) >= 3 && Number(line?.stanzasOut) >= 3, 'stanzas both ways (SASL, bind, the message)')
    t.ok(Number(line?.bytesIn) > 100 && Number(line?.bytesOut) > 100, 'bytes both ways')
    t.notOk('jid' in (line ?? {}), 'no jid field with logJid off')
    t.same(infoFor(cw, line?.sid).map((l) => l.msg), ['session ended'], 'nothing else at info for this session')
  }
  const infoText = cw.logLines().filter((l) => Number(l.level) >= INFO).map((l) => JSON.stringify(l)).join('\n')
  t.notMatch(infoText, /alice@localhost|bob@localhost/, 'no JID at info or above')
})

t.test('logJid: the bound JID joins the line', async (t) => {
  const cw = await startCauseway({ upstream, logJid: true })
  t.teardown(() => cw.stop())
  const alice = await connectClient({ service: cw.wsUrl, ...ALICE, resource: 'logged' })
  await alice.stop()
  const line = await eventually('the line', () => ended(cw)[0])
  t.equal(line.jid, 'alice@localhost/logged')
})

t.test('a wrong password: counted by domain, on the line, and no credential anywhere in the logs', async (t) => {
  const cw = await startCauseway({ upstream, logLevel: 'trace' })
  t.teardown(() => cw.stop())
  for (const mechanism of ['PLAIN', 'SCRAM-SHA-1']) {
    const xmpp = client({
      service: cw.wsUrl,
      domain: 'localhost',
      credentials: async (authenticate: (c: object, m: string) => Promise<void>) => authenticate({ username: 'alice', password: WRONG }, mechanism),
    })
    xmpp.reconnect.stop()
    xmpp.on('error', () => {})
    await t.rejects(xmpp.start(), `${mechanism}: refused`)
    await xmpp.stop().catch(() => {})
  }
  const lines = await eventually('two session-ended lines', () => (ended(cw).length >= 2 ? ended(cw) : undefined))
  for (const line of lines) {
    t.equal(line.authenticated, false)
    t.equal(line.authFailures, 1)
    t.equal(line.authFailure, 'not-authorized')
    t.equal(line.domain, 'localhost')
  }
  const scrape = await cw.causeway.metrics.registry.metrics()
  t.match(scrape, /causeway_auth_failures_total\{domain="localhost",condition="not-authorized"\} 2/)
  t.notMatch(scrape, /causeway_logins_total\{transport="websocket"\} [1-9]/, 'no login counted')
  const text = cw.logText()
  t.notMatch(text, new RegExp(WRONG), 'the password is nowhere, even at trace')
  t.notMatch(text, new RegExp(Buffer.from(`\0alice\0${WRONG}`).toString('base64').slice(0, 20)), 'nor its PLAIN form')
  t.match(text, /"msg":"authentication failed"/, 'a debug line says it happened')
})

t.test('a refused Origin: one info line per interval with the Origin and the remedy; every refusal counted', async (t) => {
  const cw = await startCauseway({ upstream, allowedOrigin: ['https://chat.example'], logLevel: 'info' })
  t.teardown(() => cw.stop())
  for (let i = 0; i < 3; i++) {
    await t.rejects(rawClient(cw.wsUrl, ['xmpp'], { origin: 'https://evil.example' }), /HTTP 403/)
  }
  const bosh = await fetch(cw.boshUrl, { method: 'POST', headers: { origin: 'https://evil.example' }, body: '<body/>' })
  t.equal(bosh.status, 403)
  await rawClient(cw.wsUrl, ['xmpp'], { origin: 'https://other.example' }).catch(() => {})
  const lines = cw.logLines().filter((l) => l.msg === 'origin refused')
  t.equal(lines.length, 2, 'one line per distinct Origin within the interval')
  t.equal(lines[0]?.level, INFO)
  t.equal(lines[0]?.origin, 'https://evil.example')
  t.equal(lines[0]?.transport, 'websocket')
  t.match(String(lines[0]?.fix), /allowedOrigin/)
  t.equal(lines[1]?.origin, 'https://other.example')
  const scrape = await cw.causeway.metrics.registry.metrics()
  t.match(scrape, /causeway_refusals_total\{transport="websocket",reason="origin"\} 4/)
  t.match(scrape, /causeway_refusals_total\{transport="bosh",reason="origin"\} 1/)
})

t.test('an upstream that is down: one warn per cause (not per session), one info line per session, the spec condition to the client', async (t) => {
  const cw = await startCauseway({ upstream: ['localhost=tcp://127.0.0.1:1'], logLevel: 'info' })
  t.teardown(() => cw.stop())
  for (let i = 0; i < 3; i++) {
    const raw = await rawClient(cw.wsUrl)
    raw.send(OPEN())
    await raw.closed
    t.match(raw.messages.join(''), /<remote-connection-failed xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/><text [^>]*>the XMPP server refused the connection<\/text>/)
  }
  const warns = cw.logLines().filter((l) => Number(l.level) === WARN)
  t.equal(warns.length, 1, 'one warning for three sessions')
  t.equal(warns[0]?.msg, 'upstream unreachable')
  t.equal(warns[0]?.cause, 'refused')
  t.equal(warns[0]?.server, '127.0.0.1:1')
  t.equal(warns[0]?.domain, 'localhost')
  t.match(String(warns[0]?.mode), /^tcp/)
  t.match(String(warns[0]?.fix), /nothing accepts connections at 127\.0\.0\.1:1/)
  const lines = await eventually('three session-ended lines', () => (ended(cw).length >= 3 ? ended(cw) : undefined))
  t.equal(lines.length, 3)
  for (const line of lines) {
    t.equal(line.reason, 'upstream-failed')
    t.equal(line.condition, 'remote-connection-failed')
    t.same(infoFor(cw, line.sid).length, 1, 'one info line for the session')
  }
  t.match(await cw.causeway.metrics.registry.metrics(), /causeway_upstream_failures_total\{upstream="localhost",reason="refused"\} 3/)
})
