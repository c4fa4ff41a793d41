/**
 * The first five minutes: `npm run demo` starts Prosody and Causeway, prints
 * two accounts that really log in, serves the Converse.js page at /demo/,
 * and stops cleanly on Ctrl-C. The /demo/ route exists only with `demo`.
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { xml } from '@xmpp/client'
import t from 'tap'
import { startCauseway } from '../helpers/causeway.js'
import { freePort } from '../helpers/ports.js'
import { connectClient } from '../helpers/xmpp-client.js'
import { connectStrophe } from '../helpers/strophe-client.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

t.test('the /demo/ page and its Converse.js assets are served only when enabled', async (t) => {
  const off = await startCauseway({ upstream: ['localhost=tcp://127.0.0.1:1'] })
  t.teardown(() => off.stop())
  t.equal((await fetch(`${off.httpUrl}/demo/`)).status, 404, 'off by default')
  t.equal((await fetch(`${off.httpUrl}/demo/dist/converse.min.js`)).status, 404)

  const on = await startCauseway({ upstream: ['chat.example=tcp://127.0.0.1:1'], demo: true })
  t.teardown(() => on.stop())
  const redirect = await fetch(`${on.httpUrl}/demo`, { redirect: 'manual' })
  t.equal(redirect.status, 302)
  t.equal(redirect.headers.get('location'), '/demo/')
  const page = await fetch(`${on.httpUrl}/demo/`)
  t.equal(page.status, 200)
  t.equal(page.headers.get('content-type'), 'text/html; charset=utf-8')
  const html = await page.text()
  // The dist bundle is an ES module: a classic <script src> would leave `converse` undefined.
  t.match(html, /<script type="module">\s*\/\/[^\n]*\n\s*import converse from '\/demo\/dist\/converse\.min\.js';/)
  t.match(html, /"boshPath":"\/http-bind"/)
  t.match(html, /"websocketPath":"\/xmpp-websocket"/)
  t.match(html, /"domain":"chat\.example"/, 'the first configured domain is offered for login')
  const script = await fetch(`${on.httpUrl}/demo/dist/converse.min.js`)
  t.equal(script.status, 200)
  t.match(script.headers.get('content-type') ?? '', /javascript/)
  t.ok((await script.arrayBuffer()).byteLength > 100_000, 'the real bundle')
  for (const escape of ['%2e%2e/%2e%2e/package.json', '%2e%2e%2fpackage.json', '..%2f..%2fpackage.json']) {
    const response = await fetch(`${on.httpUrl}/demo/dist/${escape}`)
    t.ok(response.status === 403 || response.status === 404, `no way out of the bundle directory: ${escape} → ${response.status}`)
    t.notMatch(await response.text(), /"dependencies"/)
  }
})

t.test('npm run demo: accounts that log in over both transports, Ctrl-C stops everything', async (t) => {
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', 'demo/run.ts', '--port', String(port)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (data: Buffer) => (out += data.toString()))
  child.stderr.on('data', (data: Buffer) => (out += data.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  t.teardown(() => child.kill('SIGKILL'))
  const deadline = Date.now() + 30_000
  while (!out.includes('Press Ctrl-C to stop.') && Date.now() < deadline && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 100))
  t.match(out, new RegExp(`Open http://127\\.0\\.0\\.1:${port}/demo/`), out)

  const accounts = [...out.matchAll(/(\w+)@localhost\s+password: (\S+)/g)].map((m) => ({ username: m[1] ?? '', password: m[2] ?? '' }))
  t.same(accounts.map((a) => a.username), ['alice', 'bob'], 'two demo accounts printed')
  // The demo's own Prosody: a child process of the demo.
  const children = execFileSync('ps', ['-o', 'args=', '--ppid', String(child.pid)]).toString()
  const prosodyDir = /\/tmp\/causeway-prosody-[A-Za-z0-9_-]+/.exec(children)?.[0]
  t.ok(prosodyDir, 'Prosody runs as a child of the demo')

  const page = await fetch(`http://127.0.0.1:${port}/demo/`)
  t.equal(page.status, 200)

  const [alice, bob] = accounts
  if (!alice || !bob) return
  const aliceClient = await connectClient({ service: `ws://127.0.0.1:${port}/xmpp-websocket`, ...alice })
  const bobClient = await connectStrophe(`http://127.0.0.1:${port}/http-bind`, 'bob@localhost/demo', bob.password)
  await aliceClient.xmpp.send(xml('message', { to: bobClient.jid, type: 'chat' }, xml('body', {}, 'hello from the demo')))
  t.same(await bobClient.waitForBodies(1), ['hello from the demo'], 'alice (WebSocket) reaches bob (BOSH)')
  await aliceClient.stop()
  await bobClient.disconnect()

  child.kill('SIGINT')
  t.equal(await exited, 0, 'Ctrl-C exits 0')
  if (prosodyDir) t.notOk(existsSync(prosodyDir), 'Prosody’s private directory is gone')
  t.equal(execFileSync('ps', ['-eo', 'args=']).toString().includes(prosodyDir ?? '(none)'), false, 'and its process')
})
