/**
 * The `causeway` command when something is wrong at start-up: every file
 * and listen error names the option and the value, with what to do, and a
 * secret never reaches the terminal. And `causeway-healthcheck` (the
 * container health check) finding the process's real address from its own
 * flags, environment and config file.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { AddressInfo, Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { freePort } from '../helpers/ports.js'
import { eventually } from '../helpers/wait.js'

const BIN = fileURLToPath(new URL('../../src/bin/causeway.ts', import.meta.url))
const HEALTHCHECK = fileURLToPath(new URL('../../src/bin/healthcheck.ts', import.meta.url))
const TOKEN = 'cli-secret-token-never-printed-42'
/** tsx as a URL, so a child with another working directory finds it too. */
const TSX = import.meta.resolve('tsx')

function run(script: string, args: string[], env: Record<string, string> = {}, cwd?: string) {
  const child = spawn(process.execPath, ['--import', TSX, script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], ...(cwd ? { cwd } : {}) })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, exited, out: () => stdout, err: () => stderr }
}

async function occupied(): Promise<{ port: number; server: Server }> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { port: (server.address() as AddressInfo).port, server }
}

t.test('files an option names: the option, the path and the problem', async (t) => {
  const ca = run(BIN, ['--upstream-ca-file', '/nonexistent.pem', '--port', '0'])
  t.equal(await ca.exited, 1)
  t.equal(ca.err(), 'causeway: upstreamCaFile: cannot read /nonexistent.pem: no such file\n')
  const dir = await mkdtemp(join(tmpdir(), 'causeway-cli-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const notPem = join(dir, 'ca.txt')
  await writeFile(notPem, 'not a certificate\n')
  const wrong = run(BIN, ['--upstream-ca-file', notPem, '--port', '0'])
  t.equal(await wrong.exited, 1)
  t.match(wrong.err(), /^causeway: upstreamCaFile: .*ca\.txt holds no PEM certificate/)
  const cert = run(BIN, ['--tls-cert', join(dir, 'missing.crt'), '--tls-key', join(dir, 'missing.key'), '--port', '0'])
  t.equal(await cert.exited, 1)
  t.match(cert.err(), /^causeway: tlsCert: cannot read .*missing\.crt: no such file/)
  const token = run(BIN, ['--admin-token-file', join(dir, 'absent'), '--admin-port', String(await freePort()), '--port', '0'])
  t.equal(await token.exited, 1)
  t.match(token.err(), /^causeway: adminTokenFile: cannot read .*absent: no such file/)
})

t.test('a port in use: which option, which address, what to do', async (t) => {
  const busy = await occupied()
  t.teardown(() => busy.server.close())
  const proc = run(BIN, ['--port', String(busy.port)])
  t.equal(await proc.exited, 1)
  t.match(proc.err(), new RegExp(`^causeway: host/port: 127\\.0\\.0\\.1:${busy.port} is already in use .*choose another port`))
  const admin = run(BIN, ['--port', String(await freePort()), '--admin-port', String(busy.port)])
  t.equal(await admin.exited, 1)
  t.match(admin.err(), new RegExp(`^causeway: adminHost/adminPort: 127\\.0\\.0\\.1:${busy.port} is already in use .*choose another adminPort`))
})

t.test('a secret is never printed, whatever is wrong around it', async (t) => {
  for (const args of [
    ['--admin-token', TOKEN],
    ['--admin-token', `${TOKEN} with spaces`, '--admin-port', '5999'],
    ['--admin-token', TOKEN, '--admin-token-file', '/x', '--admin-port', '5999'],
  ]) {
    const proc = run(BIN, args)
    t.equal(await proc.exited, 2)
    t.match(proc.err(), /adminToken/)
    t.notMatch(proc.err() + proc.out(), /cli-secret-token/, args.join(' '))
  }
  const env = run(BIN, [], { CAUSEWAY_ADMIN_TOKEN: TOKEN })
  t.equal(await env.exited, 2)
  t.match(env.err(), /adminToken: needs adminPort .*\(got \(hidden, \d+ characters\) from CAUSEWAY_ADMIN_TOKEN/)
  t.notMatch(env.err(), /cli-secret-token/)
})

t.test('causeway-healthcheck follows the port and scheme the process was given (flags, environment, config file)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'causeway-health-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const port = await freePort()
  await writeFile(join(dir, 'causeway.json'), JSON.stringify({ port, upstream: ['localhost=tcp://127.0.0.1:1'] }))
  // A relative config path, resolved against the process's own working directory.
  const proc = run(BIN, ['--config', 'causeway.json', '--log-level', 'info', '--shutdown-drain-ms', '3000'], { CAUSEWAY_HOST: '0.0.0.0' }, dir)
  t.teardown(() => proc.child.kill('SIGKILL'))
  await eventually('causeway to listen', () => proc.out().includes('causeway listening'), 30_000)
  const healthy = run(HEALTHCHECK, ['--pid', String(proc.child.pid)])
  t.equal(await healthy.exited, 0, `healthy: ${healthy.err()}`)

  proc.child.kill('SIGTERM')
  await eventually('draining', () => proc.out().includes('shutting down'))
  const draining = run(HEALTHCHECK, ['--pid', String(proc.child.pid)])
  t.equal(await draining.exited, 1)
  t.match(draining.err(), new RegExp(`http://127\\.0\\.0\\.1:${port}/healthz answered 503 \\(shutting down\\)`))
  await proc.exited

  const gone = run(HEALTHCHECK, ['--pid', String(proc.child.pid)])
  t.equal(await gone.exited, 1, 'no such process')
  const other = run(HEALTHCHECK, ['--pid', String(process.pid)])
  t.equal(await other.exited, 1)
  t.match(other.err(), /is not causeway/)
})
