/**
 * Prebind against ejabberd, which offers SCRAM-SHA-256 (RFC 7677): Causeway
 * picks it, checks the server's signature, binds, and Strophe.js attaches
 * and exchanges a message with a WebSocket user. ejabberd's own session
 * table confirms the prebound session is a real session of that user.
 */
import { Strophe, $msg, $pres } from 'strophe.js'
import t from 'tap'
import { startCauseway } from '../helpers/causeway.js'
import { startEjabberd } from '../helpers/ejabberd.js'
import type { EjabberdSession } from '../helpers/ejabberd.js'
import { freePort } from '../helpers/ports.js'
import { prebindOrThrow, requestPrebind } from '../helpers/prebind.js'
import '../helpers/strophe-client.js'
import { eventually, withTimeout } from '../helpers/wait.js'
import { connectClient } from '../helpers/xmpp-client.js'

const TOKEN = 'ejabberd-prebind-token-1234567890'
const ALICE = { username: 'alice', password: 'alice-ejabberd-prebind' }
const BOB = { username: 'bob', password: 'bob-ejabberd-prebind' }

Strophe.setLogLevel(Strophe.LogLevel.WARN)

t.test('prebind with SCRAM-SHA-256 against ejabberd, attached by Strophe.js', async (t) => {
  const ejabberd = await startEjabberd({ users: [ALICE, BOB] })
  t.teardown(() => ejabberd.stop())
  const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${ejabberd.c2sPort}`], adminPort: await freePort(), adminToken: TOKEN })
  t.teardown(() => cw.stop())

  const prebound = await prebindOrThrow(cw.adminUrl ?? '', TOKEN, { jid: 'alice@localhost/prebound', password: ALICE.password })
  t.equal(prebound.jid, 'alice@localhost/prebound')
  t.match(cw.logLines().find((l) => l.msg === 'prebind'), { result: 'ok', mechanism: 'SCRAM-SHA-256' }, 'the strongest mechanism offered')
  const sessions = await ejabberd.api<EjabberdSession[]>('user_sessions_info', { user: 'alice', host: 'localhost' })
  t.same(sessions.map((s) => s.resource), ['prebound'], 'ejabberd holds the session')

  const connection = new Strophe.Connection(cw.boshUrl)
  const bodies: string[] = []
  connection.addHandler((stanza: Element) => {
    bodies.push(stanza.getElementsByTagName('body')[0]?.textContent ?? '')
    return true
  }, null, 'message')
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      connection.attach(prebound.jid, prebound.sid, prebound.rid, (status: number) => {
        if (status === Strophe.Status.ATTACHED) resolve()
        else if (status === Strophe.Status.CONNFAIL || status === Strophe.Status.DISCONNECTED) reject(new Error(`status ${status}`))
      })
    }),
    'attach',
    10_000,
  )
  t.teardown(() => connection.disconnect('done'))
  connection.send($pres().tree())
  const bob = await connectClient({ service: cw.wsUrl, ...BOB, resource: 'ws' })
  t.teardown(() => bob.stop())
  connection.send($msg({ to: bob.jid, type: 'chat' }).c('body').t('from an ejabberd prebind').tree())
  const [got] = await bob.waitForMessages(1)
  t.equal(got?.getChildText('body'), 'from an ejabberd prebind')
  t.equal(got?.attrs.from, 'alice@localhost/prebound')

  const wrong = await requestPrebind(cw.adminUrl ?? '', TOKEN, { jid: 'bob@localhost', password: 'not-bobs' })
  t.equal(wrong.status, 403)
  t.equal(wrong.body.condition, 'not-authorized')
  await eventually('bodies settle', () => bodies.length === 0 || bodies.length > 0)
})
