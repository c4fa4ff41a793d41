/**
 * Prebind end to end against a real Prosody: a web application (this test,
 * with the admin token) asks Causeway to log a user in; Strophe.js attaches
 * to the returned `{ jid, sid, rid }` (its `attach()`: "This RID will be
 * used by the next request") and exchanges messages both ways with a
 * WebSocket user. Refusals: a wrong password, a domain not in `upstream`,
 * a request without the token, too many at once. The password is never
 * logged, whatever the level.
 */
import { Strophe, $msg, $pres } from 'strophe.js'
import { xml } from '@xmpp/client'
import t from 'tap'
import { startCauseway } from '../helpers/causeway.js'
import { freePort } from '../helpers/ports.js'
import { prebindOrThrow, requestPrebind } from '../helpers/prebind.js'
import { startProsody } from '../helpers/prosody.js'
import '../helpers/strophe-client.js'
import { eventually, withTimeout } from '../helpers/wait.js'
import { connectClient } from '../helpers/xmpp-client.js'

const TOKEN = 'prebind-admin-token-7a6b5c4d3e2f'
const ALICE = { username: 'alice', password: 'alice-Pr3bind-secret' }
const BOB = { username: 'bob', password: 'bob-pw-prebind' }

const prosody = await startProsody({ users: [ALICE, BOB], scramIterations: 4096 })
t.teardown(() => prosody.stop())
const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`], adminPort: await freePort(), adminToken: TOKEN, logLevel: 'trace' })
t.teardown(() => cw.stop())
const admin = cw.adminUrl ?? ''

type StropheConnection = InstanceType<typeof Strophe.Connection>

/** Strophe.attach() to a prebound session; resolves once ATTACHED. */
async function attach(prebound: { jid: string; sid: string; rid: number }): Promise<{ connection: StropheConnection; bodies: string[] }> {
  const connection = new Strophe.Connection(cw.boshUrl)
  const bodies: string[] = []
  connection.addHandler((stanza: Element) => {
    const body = stanza.getElementsByTagName('body')[0]
    if (body) bodies.push(body.textContent ?? '')
    return true
  }, null, 'message')
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      connection.attach(prebound.jid, prebound.sid, prebound.rid, (status: number) => {
        if (status === Strophe.Status.ATTACHED) resolve()
        else if (status === Strophe.Status.CONNFAIL || status === Strophe.Status.DISCONNECTED) reject(new Error(`Strophe status ${status}`))
      })
    }),
    'attach',
    10_000,
  )
  return { connection, bodies }
}

t.test('a prebound session: Strophe.js attaches with { jid, sid, rid } and exchanges messages', async (t) => {
  const prebound = await prebindOrThrow(admin, TOKEN, { jid: 'alice@localhost/prebound', password: ALICE.password })
  t.equal(prebound.jid, 'alice@localhost/prebound', 'the resource asked for is bound')
  t.match(prebound.sid, /^[A-Za-z0-9_~.-]{16,}$/)
  t.ok(Number.isSafeInteger(prebound.rid) && prebound.rid > 0, 'the rid the browser continues with')

  const alice = await attach(prebound)
  t.teardown(() => alice.connection.disconnect('test done'))
  alice.connection.send($pres().tree())
  const bob = await connectClient({ service: cw.wsUrl, ...BOB, resource: 'ws' })
  t.teardown(() => bob.stop())
  await bob.xmpp.send(xml('message', { to: prebound.jid, type: 'chat' }, xml('body', {}, 'hello, attached alice')))
  await eventually('the message at alice', () => alice.bodies.length > 0)
  t.same(alice.bodies, ['hello, attached alice'])
  alice.connection.send($msg({ to: bob.jid, type: 'chat' }).c('body').t('hello from a prebound session').tree())
  const [reply] = await bob.waitForMessages(1)
  t.equal(reply?.getChildText('body'), 'hello from a prebound session')

  const sessions = (await (await fetch(`${admin}/admin/sessions?transport=bosh`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { sessions: Array<{ jid?: string; state: string }> }
  t.match(sessions.sessions, [{ jid: 'alice@localhost/prebound', state: 'authenticated' }], 'listed as any BOSH session')
  const line = cw.logLines().find((l) => l.msg === 'prebind' && l.result === 'ok')
  t.match(line, { result: 'ok', domain: 'localhost', ip: '127.0.0.1' })
  t.match(String(line?.mechanism), /^SCRAM-SHA-(1|256)$/, 'SCRAM when the server offers it')
  t.notOk('jid' in (line ?? {}), 'no JID in the line without logJid')
  t.match(await cw.causeway.metrics.registry.metrics(), /causeway_prebinds_total\{result="ok"\} 1/)
})

t.test('without a resource, the server picks one; the end user address is used for the per-address cap and the logs', async (t) => {
  const prebound = await prebindOrThrow(admin, TOKEN, { jid: 'bob@localhost', password: BOB.password, ip: '192.0.2.44' })
  t.match(prebound.jid, /^bob@localhost\/.+/)
  const sessions = (await (await fetch(`${admin}/admin/sessions?remote=192.0.2.44`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { total: number }
  t.equal(sessions.total, 1)
  const bob = await attach(prebound)
  bob.connection.disconnect('done')
})

t.test('refusals: a wrong password, a domain not served, a malformed request', async (t) => {
  const wrong = await requestPrebind(admin, TOKEN, { jid: 'alice@localhost', password: 'not-alices-password-5150' })
  t.equal(wrong.status, 403)
  t.same(wrong.body, { error: 'authentication failed', condition: 'not-authorized' })
  const foreign = await requestPrebind(admin, TOKEN, { jid: 'alice@elsewhere.example', password: ALICE.password })
  t.equal(foreign.status, 403)
  t.match(foreign.body.error, /not served here/)
  t.equal((await requestPrebind(admin, TOKEN, { jid: 'not a jid', password: 'x' })).status, 400)
  t.equal((await requestPrebind(admin, TOKEN, { jid: 'alice@localhost', password: '' })).status, 400)
  t.equal((await requestPrebind(admin, TOKEN, { jid: 'alice@localhost', password: 'x', ip: 'not-an-ip' })).status, 400)
  const scrape = await cw.causeway.metrics.registry.metrics()
  t.match(scrape, /causeway_prebinds_total\{result="auth-failed"\} 1/)
  t.match(scrape, /causeway_auth_failures_total\{domain="localhost",condition="not-authorized"\} 1/, 'the failure counts as any other')
  await eventually('the failed prebind session is gone', async () => {
    const list = (await (await fetch(`${admin}/admin/sessions?state=pre-auth`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { total: number }
    return list.total === 0
  })
})

t.test('no secret in the logs at trace level: neither the passwords nor the admin token', async (t) => {
  const text = cw.logText()
  for (const secret of [ALICE.password, BOB.password, 'not-alices-password-5150', TOKEN]) t.notMatch(text, new RegExp(secret), 'never logged')
  t.notMatch(text, /"password"/, 'no password field at all')
})

t.test('prebindMaxPerSecond: past the burst, 429 with Retry-After', async (t) => {
  const limited = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`], adminPort: await freePort(), adminToken: TOKEN, prebindMaxPerSecond: 1 })
  t.teardown(() => limited.stop())
  const answers = await Promise.all([1, 2, 3].map(() => requestPrebind(limited.adminUrl ?? '', TOKEN, { jid: 'nobody@elsewhere.example', password: 'x' })))
  t.same(answers.map((a) => a.status).sort(), [403, 429, 429])
  t.equal(answers.find((a) => a.status === 429)?.headers.get('retry-after'), '1')
})
