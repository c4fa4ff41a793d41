/**
 * The `causeway` command as an operator runs it: flags, config errors, and
 * SIGTERM ending each WebSocket session with <close/> after its upstream.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { eventually } from '../helpers/wait.js'
import { startProsody } from '../helpers/prosody.js'
import { freePort } from '../helpers/ports.js'
import { OPEN, rawClient } from '../helpers/ws-client.js'
import { HTTPBIND, openHeldSession } from '../helpers/bosh-raw.js'

const BIN = fileURLToPath(new URL('../../src/bin/causeway.ts', import.meta.url))

function run(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', BIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, exited, out: () => stdout, err: () => stderr }
}

t.test('a bad flag exits 2 naming the key and the bound', async (t) => {
  const proc = run(['--port', '70000'])
  t.equal(await proc.exited, 2)
  t.match(proc.err(), /port/)
  t.match(proc.err(), /65535/)
})

t.test('--help lists the options', async (t) => {
  const proc = run(['--help'])
  t.equal(await proc.exited, 0)
  t.match(proc.out(), /--upstream/)
  t.match(proc.out(), /--allowed-origin/)
})

t.test('SIGTERM: upstream closed, then <close/>, then exit 0', async (t) => {
  const prosody = await startProsody({ users: [{ username: 'alice', password: 'pw' }] })
  t.teardown(() => prosody.stop())
  const port = await freePort()
  const proc = run(['--port', String(port), '--upstream', `localhost=tcp://127.0.0.1:${prosody.c2sPort}`, '--log-level', 'info'])
  t.teardown(() => proc.child.kill('SIGKILL'))
  await eventually('causeway to listen', () => proc.out().includes('causeway listening'))
  t.match(proc.out(), /causeway listening/)

  const client = await rawClient(`ws://127.0.0.1:${port}/xmpp-websocket`)
  client.send(OPEN())
  await client.waitForMatch(/^<stream:features/)

  // A BOSH session with a request held at the moment of shutdown.
  const NS = HTTPBIND
  const { sid, held } = await openHeldSession(`http://127.0.0.1:${port}/http-bind`, { wait: 30 })
  t.ok(sid, 'a BOSH session is open')

  const started = Date.now()
  proc.child.kill('SIGTERM')
  t.equal(await held, `<body ${NS} type='terminate' condition='system-shutdown'/>`, 'the held BOSH request is answered with system-shutdown')
  const closed = await client.closed
  t.equal(client.messages.at(-1), "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>", 'the session ends with <close/>')
  t.equal(closed.code, 1001, 'going away')
  t.equal(await proc.exited, 0, 'exit status 0')
  t.ok(Date.now() - started < 10_000, 'within the shutdown deadline')
  t.match(proc.out(), /shutdown complete/)
  await eventually('Prosody to log our </stream:stream>', () => /Received <\/stream:stream>/.test(prosody.logs()))
  t.match(prosody.logs(), /Received <\/stream:stream>/, 'Prosody received our </stream:stream>: the upstream stream was closed, not dropped')
})
