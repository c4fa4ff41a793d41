/**
 * `npm run demo` as a supervisor runs it: started through npm with
 * `--log-level`, the two accounts are already each other's contacts, `/`
 * leads to the page, and SIGTERM to npm (not Ctrl-C to the terminal) stops
 * npm, the demo and its Prosody, leaving nothing behind.
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { xml } from '@xmpp/client'
import type { Element } from 'ltx'
import t from 'tap'
import { freePort } from '../helpers/ports.js'
import { eventually } from '../helpers/wait.js'
import { connectClient } from '../helpers/xmpp-client.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Every process below `pid`, with its command line. */
function descendants(pid: number): Array<{ pid: number; args: string }> {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,args=']).toString().trim().split('\n')
  const all = rows.map((row) => {
    const [p, pp, ...args] = row.trim().split(/\s+/)
    return { pid: Number(p), ppid: Number(pp), args: args.join(' ') }
  })
  const found: Array<{ pid: number; args: string }> = []
  const walk = (parent: number) => {
    for (const child of all.filter((p) => p.ppid === parent)) {
      found.push({ pid: child.pid, args: child.args })
      walk(child.pid)
    }
  }
  walk(pid)
  return found
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

t.test('npm run demo: contacts, /, --log-level, and SIGTERM to npm stops everything', async (t) => {
  const port = await freePort()
  const npm = spawn('npm', ['run', 'demo', '--', '--port', String(port), '--log-level', 'info'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  npm.stdout.on('data', (data: Buffer) => (out += data.toString()))
  npm.stderr.on('data', (data: Buffer) => (out += data.toString()))
  const exited = new Promise<number | null>((resolve) => npm.on('exit', resolve))
  const tree: Array<{ pid: number; args: string }> = []
  t.teardown(() => {
    for (const p of tree) if (alive(p.pid)) process.kill(p.pid, 'SIGKILL')
    npm.kill('SIGKILL')
  })
  await eventually('the demo to start', () => out.includes('Press Ctrl-C to stop.') || npm.exitCode !== null, 45_000)
  t.match(out, /they are each other’s contacts/)
  tree.push(...descendants(npm.pid ?? 0))
  const prosodyDir = /\/tmp\/causeway-prosody-[A-Za-z0-9_-]+/.exec(tree.map((p) => p.args).join('\n'))?.[0]
  t.ok(prosodyDir, `Prosody runs below npm:\n${tree.map((p) => p.args).join('\n')}`)

  const root = await fetch(`http://127.0.0.1:${port}/`, { redirect: 'manual' })
  t.equal(root.status, 302, '/ leads to the demo')
  t.equal(root.headers.get('location'), '/demo/')

  const accounts = [...out.matchAll(/(\w+)@localhost\s+password: (\S+)/g)].map((m) => ({ username: m[1] ?? '', password: m[2] ?? '' }))
  const alice = accounts.find((a) => a.username === 'alice')
  t.ok(alice)
  if (!alice) return
  const client = await connectClient({ service: `ws://127.0.0.1:${port}/xmpp-websocket`, ...alice, resource: 'check' })
  const roster = (await client.xmpp.iqCaller.get(xml('query', { xmlns: 'jabber:iq:roster' }))) as Element
  t.same(roster.getChildren('item').map((item) => [item.attrs.jid, item.attrs.subscription]), [['bob@localhost', 'both']], 'bob is alice’s contact, both ways')
  await client.stop()
  await eventually('the info line of that session (--log-level info)', () => out.includes('"msg":"session ended"'))

  npm.kill('SIGTERM')
  await exited
  await eventually('every process of the demo to exit', () => tree.every((p) => !alive(p.pid)), 20_000)
  if (prosodyDir) await eventually('Prosody’s private directory to go', () => !existsSync(prosodyDir), 10_000)
  t.pass('npm, the shell, the demo and Prosody are gone')
})
