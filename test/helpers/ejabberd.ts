/**
 * A private ejabberd for one test file: generated YAML config, Mnesia spool
 * and logs in a fresh temp dir, listeners on 127.0.0.1 only, users
 * registered before startEjabberd() resolves, and a stop() that ends the
 * whole Erlang VM and removes the dir.
 *
 * Isolation: the VM runs WITHOUT Erlang distribution (no -name/-sname), so
 * it has no node name, no cookie, never starts or talks to epmd and cannot
 * collide with a system ejabberd or another test's VM; it is plain
 * `erl -noshell -pa <ejabberd ebin> -s ejabberd` from the Debian package. Since
 * ejabberdctl needs distribution, the harness talks to the server through
 * its own channels instead:
 *  - users given up front are registered by an -eval that runs inside the VM
 *    right after the ejabberd application has started (ejabberd_auth:try_register),
 *    which prints one line per user on stdout, then "ready";
 *  - later commands (register, user_sessions_info, …: the same commands
 *    ejabberdctl offers) go to mod_http_api on a loopback-only HTTP listener.
 *
 * Leak protection: the -eval also starts a process that watches stdin, a
 * pipe from this Node process. stop() writes "halt"; plain EOF means we died
 * without cleaning up (SIGKILL, tap timeout: no JavaScript runs), and the VM
 * then deletes its own temp dir and halts. A normal exit additionally
 * SIGKILLs every live VM from an 'exit' hook.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants as fsConstants, existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { freePort } from './ports.js'
import { cleanUpOnExit } from './exit-cleanup.js'

export interface EjabberdUser { username: string; password: string }

export interface EjabberdOptions {
  /** Virtual host; default 'localhost'. */
  domain?: string
  /** Registered inside the VM before startEjabberd() resolves. */
  users?: EjabberdUser[]
  /** A second c2s listener with `use_proxy_protocol: true` (HAProxy PROXY v1/v2), returned as proxyC2sPort. */
  proxyProtocol?: boolean
  /** ejabberd's loglevel for the log file; default 'info' (connections and logins; 'debug' adds every stanza). */
  logLevel?: 'warning' | 'info' | 'debug'
  /** Extra modules, each loaded with default options (e.g. 'mod_stream_mgmt', 'mod_offline'). */
  modules?: string[]
  /** Overall readiness timeout in ms; default 30000. */
  startTimeoutMs?: number
}

/** One row of `user_sessions_info`, as mod_http_api returns it. */
export interface EjabberdSession {
  connection: string
  /** The client address as ejabberd sees it (with PROXY protocol: the one in the header). */
  ip: string
  port: number
  priority: number
  node: string
  uptime: number
  status: string
  resource: string
  statusmsg: string
}

export interface RunningEjabberd {
  domain: string
  host: '127.0.0.1'
  /** Plain c2s: no TLS at all, SASL PLAIN and SCRAM-SHA-1/-256/-512. */
  c2sPort: number
  /** Same, but every connection must start with a PROXY protocol header. Only with proxyProtocol: true. */
  proxyC2sPort?: number
  /** mod_http_api at http://127.0.0.1:apiPort/api/<command>, open to 127.0.0.1 without credentials. */
  apiPort: number
  users: EjabberdUser[]
  /** Temp dir holding config, spool and logs; removed by stop(). */
  dir: string
  /** Process id of the VM (beam.smp: erl execs it). */
  pid: number
  /** Run an ejabberd command (what `ejabberdctl <command>` would run) through mod_http_api. */
  api: <T = unknown>(command: string, args?: Record<string, unknown>) => Promise<T>
  addUser: (u: EjabberdUser) => Promise<void>
  /** `user_sessions_info` for username@domain: one row per connected resource. */
  sessions: (username: string) => Promise<EjabberdSession[]>
  /** ejabberd.log so far plus the VM's own stdout/stderr, for failing-test diagnostics. Still works after stop(). */
  logText: () => string
  /** The first ejabberd.log line matching `pattern`, once it is there (the log is written with a short delay). */
  waitForLog: (pattern: RegExp, timeoutMs?: number) => Promise<string>
  /** Ends the VM (halt via stdin EOF, SIGKILL if it lingers) and removes the temp dir. Idempotent. */
  stop: () => Promise<void>
}

export const INSTALL_HINT = 'ejabberd is required for these integration tests but was not found ' +
  '(looked for ejabberdctl in /usr/sbin and on PATH). Install it with: apt-get install -y ejabberd'

const DEFAULT_START_TIMEOUT_MS = 30_000
const HALT_GRACE_MS = 3000
const POLL_INTERVAL_MS = 50
const BIND_ATTEMPTS = 3
const MAX_CAPTURED_OUTPUT = 64 * 1024
const API_TIMEOUT_MS = 10_000
/** Lines our -eval prints on stdout (ejabberd's own console logging is 'quiet'). */
const MARK = 'causeway-ejabberd'

// ---------------------------------------------------------------------------
// Leak protection for normal exits and uncaught errors (stdin EOF covers the rest).

/** Processes still running, each with the function that unregisters it from the exit cleanup. */
const live = new Map<ChildProcess, () => void>()

// ---------------------------------------------------------------------------
// Finding the Debian package's Erlang and ejabberd code.

interface Runtime { erl: string; ebin: string }

function executable (path: string): boolean {
  try { accessSync(path, fsConstants.X_OK); return true } catch { return false }
}

function findOnPath (name: string, extra: string[]): string | undefined {
  const dirs = [...extra, ...(process.env.PATH ?? '/usr/bin:/bin').split(delimiter)]
  for (const dir of dirs) {
    if (dir !== '' && executable(join(dir, name))) return join(dir, name)
  }
  return undefined
}

let runtime: Runtime | undefined

/**
 * ejabberdctl knows which erl to use and where the package put the ejabberd
 * application (`ERL_LIBS='/usr/lib/x86_64-linux-gnu'` on Debian amd64, next
 * to ~1400 unrelated entries). Only ejabberd's own ebin goes on the code path
 * (-pa): its dependencies are ordinary Erlang applications under the OTP
 * root, and not scanning that big directory saves ~0.1 s of VM boot.
 */
function findRuntime (): Runtime {
  if (runtime !== undefined) return runtime
  const ctl = findOnPath('ejabberdctl', ['/usr/sbin', '/usr/local/sbin'])
  if (ctl === undefined) throw new Error(INSTALL_HINT)
  const script = readFileSync(ctl, 'utf8')
  const erl = /^ERL="([^"]+)"/m.exec(script)?.[1] ?? findOnPath('erl', ['/usr/bin'])
  if (erl === undefined || !executable(erl)) throw new Error(`${INSTALL_HINT} (no erl found; ejabberdctl is ${ctl})`)
  const libs = /^ERL_LIBS='([^']+)'/m.exec(script)?.[1]?.split(':') ?? []
  const apps = new Set<string>()
  for (const lib of libs) {
    let names: string[] = []
    try { names = readdirSync(lib) } catch {}
    for (const name of names) {
      if (!/^ejabberd-\d/.test(name)) continue
      try {
        const app = realpathSync(join(lib, name)) // Debian ships ejabberd-23.01 -> ejabberd-23.01-1
        if (existsSync(join(app, 'ebin', 'ejabberd.app'))) apps.add(app)
      } catch {}
    }
  }
  const [app, ...others] = [...apps]
  if (app === undefined) throw new Error(`${INSTALL_HINT} (no ejabberd-*/ebin/ejabberd.app under ERL_LIBS ${JSON.stringify(libs)} of ${ctl})`)
  if (others.length > 0) throw new Error(`several ejabberd installations found: ${[app, ...others].join(', ')}`)
  runtime = { erl, ebin: join(app, 'ebin') }
  return runtime
}

// ---------------------------------------------------------------------------
// Config and the in-VM bootstrap.

function assertDomain (domain: string): void {
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(domain)) throw new Error(`startEjabberd: invalid domain ${JSON.stringify(domain)}`)
}

/** A JSON string is a valid YAML double-quoted scalar. */
const yaml = (s: string): string => JSON.stringify(s)

/** A binary literal built from bytes: no quoting or encoding questions for any password. */
const erlBinary = (s: string): string => `<<${[...Buffer.from(s, 'utf8')].join(',')}>>`

interface Ports { c2s: number; proxyC2s?: number; api: number }

interface Layout { dir: string; configPath: string; usersPath: string; logDir: string; logPath: string; msgsDir: string }

function renderConfig (opts: EjabberdOptions, domain: string, ports: Ports): string {
  const c2s = (port: number, proxy: boolean): string[] => [
    `  - port: ${port}`,
    '    ip: "127.0.0.1"',
    '    module: ejabberd_c2s',
    // No certificate is configured, so there is no STARTTLS offer and nothing to require.
    '    starttls: false',
    '    starttls_required: false',
    '    max_stanza_size: 1048576',
    '    shaper: none',
    '    access: c2s',
    ...(proxy ? ['    use_proxy_protocol: true'] : [])
  ]
  const modules = ['mod_roster', 'mod_disco', 'mod_ping', 'mod_carboncopy', 'mod_admin_extra', ...(opts.modules ?? [])]
  return [
    '# Generated by test/helpers/ejabberd.ts for one test run; do not edit.',
    `loglevel: ${opts.logLevel ?? 'info'}`,
    'log_rotate_count: 0',
    'hide_sensitive_log_data: false',
    `hosts:\n  - ${yaml(domain)}`,
    'language: "en"',
    'listen:',
    ...c2s(ports.c2s, false),
    ...(ports.proxyC2s !== undefined ? c2s(ports.proxyC2s, true) : []),
    `  - port: ${ports.api}`,
    '    ip: "127.0.0.1"',
    '    module: ejabberd_http',
    '    request_handlers:',
    '      /api: mod_http_api',
    // Plain storage: PLAIN and every SCRAM variant (SHA-1, -256, -512) are offered.
    'auth_method: [internal]',
    'auth_password_format: plain',
    'disable_sasl_mechanisms: ["X-OAUTH2"]',
    'acl:',
    '  local:',
    '    user_regexp: ""',
    'access_rules:',
    '  local:',
    '    allow: local',
    '  c2s:',
    '    allow: all',
    // The admin API: no credentials, but only from loopback (and the listener is on loopback anyway).
    'api_permissions:',
    '  "causeway test harness":',
    '    who:',
    '      ip: 127.0.0.1/32',
    '    what: "*"',
    'shaper_rules:',
    '  max_user_sessions: 1000',
    `modules:\n${modules.map(m => `  ${m}: {}`).join('\n')}`,
    ''
  ].join('\n')
}

/**
 * Runs in the VM after `-s ejabberd` returned (the application is up):
 * register the users, print one line each and "ready", then watch stdin:
 * "halt" (from stop()) halts the VM; EOF without it means this Node process
 * died without cleaning up, so the VM removes the temp dir itself and halts.
 */
const BOOTSTRAP = `
{ok, [Users]} = file:consult(os:getenv("CAUSEWAY_EJABBERD_USERS")),
lists:foreach(fun ({I, U, H, P}) ->
    io:format("${MARK} register ~b ~0p~n", [I, ejabberd_auth:try_register(U, H, P)])
  end, Users),
spawn(fun () ->
    Orphaned = fun () -> file:del_dir_r(os:getenv("CAUSEWAY_EJABBERD_DIR")), erlang:halt(0) end,
    Watch = fun W () ->
        case io:get_line('') of
          "halt\n" -> erlang:halt(0);
          eof -> Orphaned();
          {error, _} -> Orphaned();
          _ -> W()
        end
      end,
    Watch()
  end),
io:format("${MARK} ready~n").
`

function renderUsers (domain: string, users: EjabberdUser[]): string {
  const terms = users.map((u, i) => `{${i}, ${erlBinary(u.username)}, ${erlBinary(domain)}, ${erlBinary(u.password)}}`)
  return `[${terms.join(',\n ')}].\n`
}

// ---------------------------------------------------------------------------
// The VM process.

interface Launched {
  child: ChildProcess
  alive: () => boolean
  /** stdout and stderr so far (ours and anything the VM printed). */
  output: () => string
  exited: Promise<void>
}

function launch (rt: Runtime, l: Layout, spoolDir: string): Launched {
  const args = [
    // Scheduler threads sleep instead of busy-waiting when idle: other test
    // processes share the two CI cores.
    '+sbwt', 'none', '+sbwtdcpu', 'none', '+sbwtdio', 'none',
    '-noshell',
    '-pa', rt.ebin,
    '-mnesia', 'dir', JSON.stringify(spoolDir),
    // ejabberd's console log: critical only (the log file has everything).
    '-ejabberd', 'quiet', 'true',
    '-s', 'ejabberd',
    '-eval', BOOTSTRAP
  ]
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    LANG: 'C.UTF-8',
    HOME: l.dir,
    ERL_CRASH_DUMP: join(l.logDir, 'erl_crash.dump'),
    ERL_CRASH_DUMP_BYTES: '0',
    EJABBERD_CONFIG_PATH: l.configPath,
    EJABBERD_LOG_PATH: l.logPath,
    CONTRIB_MODULES_PATH: join(l.dir, 'contrib'),
    // An empty dir: English only, which skips building the translation cache (~0.3 s).
    EJABBERD_MSGS_PATH: l.msgsDir,
    CAUSEWAY_EJABBERD_USERS: l.usersPath,
    CAUSEWAY_EJABBERD_DIR: l.dir
  }
  const child = spawn(rt.erl, args, { cwd: l.dir, env, stdio: ['pipe', 'pipe', 'pipe'] })
  live.set(child, cleanUpOnExit(() => child.kill('SIGKILL'), l.dir))
  let output = ''
  let alive = true
  const capture = (chunk: Buffer | string): void => {
    output += chunk.toString()
    if (output.length > MAX_CAPTURED_OUTPUT) output = output.slice(-MAX_CAPTURED_OUTPUT)
  }
  child.stdout?.on('data', capture)
  child.stderr?.on('data', capture)
  // The VM may be gone before we close its stdin.
  child.stdin?.on('error', () => {})
  child.once('exit', () => { alive = false })
  const exited = new Promise<void>(resolve => {
    child.once('close', () => { live.get(child)?.(); live.delete(child); resolve() })
    child.once('error', err => {
      alive = false
      capture(`spawn ${rt.erl} failed: ${err.message}\n`)
      live.get(child)?.()
      live.delete(child)
      resolve()
    })
  })
  return { child, alive: () => alive, output: () => output, exited }
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/** "halt" on stdin makes the bootstrap's watcher halt the VM at once; SIGKILL if it does not. */
async function halt (launched: Launched): Promise<void> {
  const { child, exited } = launched
  if (!launched.alive()) { await exited; return }
  child.stdin?.end('halt\n')
  const timer = setTimeout(() => { if (launched.alive()) child.kill('SIGKILL') }, HALT_GRACE_MS)
  await exited
  clearTimeout(timer)
}

function readOr (path: string): string {
  try { return readFileSync(path, 'utf8') } catch { return '' }
}

function tail (text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n')
}

class PortCollision extends Error {}

/**
 * Resolves once `port` answers an XMPP stream header with <stream:features>
 * (after `prefix`, e.g. a PROXY header for a proxy-protocol listener).
 */
export function probeFeatures (port: number, domain: string, prefix = '', timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port })
    let buf = ''
    let settled = false
    const done = (err: Error | undefined): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (err !== undefined) { socket.destroy(); reject(err); return }
      socket.end('</stream:stream>')
      setTimeout(() => socket.destroy(), 500).unref()
      resolve(buf)
    }
    const timer = setTimeout(() => done(new Error(`no <stream:features> on port ${port} within ${timeoutMs} ms; got ${JSON.stringify(buf)}`)), timeoutMs)
    socket.setEncoding('utf8')
    socket.once('connect', () => {
      socket.write(`${prefix}<?xml version='1.0'?><stream:stream to='${domain}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`)
    })
    socket.on('data', (chunk: string) => {
      buf += chunk
      if (buf.includes('</stream:features>')) done(undefined)
    })
    socket.on('error', err => done(err))
    socket.once('close', () => done(new Error(`port ${port} closed before <stream:features>; got ${JSON.stringify(buf)}`)))
  })
}

async function callApi<T> (apiPort: number, command: string, args: Record<string, unknown>): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${apiPort}/api/${command}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(args),
    signal: AbortSignal.timeout(API_TIMEOUT_MS)
  })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`ejabberd API ${command} failed: HTTP ${res.status} ${text}`)
  return JSON.parse(text) as T
}

/** stdout lines from the bootstrap: registration results by user index, and readiness. */
function bootstrapState (output: string): { ready: boolean; registered: Map<number, string> } {
  const registered = new Map<number, string>()
  for (const m of output.matchAll(new RegExp(`^${MARK} register (\\d+) (.*)$`, 'gm'))) registered.set(Number(m[1]), m[2] ?? '')
  return { ready: new RegExp(`^${MARK} ready$`, 'm').test(output), registered }
}

async function waitReady (launched: Launched, l: Layout, domain: string, ports: Ports, users: EjabberdUser[], deadline: number): Promise<void> {
  // 1. The application started and the bootstrap registered everyone.
  for (;;) {
    if (!launched.alive()) {
      await launched.exited
      const log = readOr(l.logPath)
      if (/Failed to open socket at .*address already in use|eaddrinuse/.test(log)) {
        throw new PortCollision(`ejabberd could not bind its ports (${JSON.stringify(ports)}): in use by another process`)
      }
      throw new Error(`ejabberd's VM exited during start-up (code ${String(launched.child.exitCode)}, signal ${String(launched.child.signalCode)})`)
    }
    const state = bootstrapState(launched.output())
    const failed = [...state.registered].filter(([, result]) => result !== 'ok')
    if (failed.length > 0) {
      throw new Error(`registering users failed: ${failed.map(([i, r]) => `${users[i]?.username ?? i}: ${r}`).join('; ')}`)
    }
    if (state.ready) {
      if (state.registered.size !== users.length) throw new Error(`bootstrap registered ${state.registered.size} of ${users.length} users`)
      break
    }
    if (Date.now() > deadline) throw new Error('ejabberd not started in time (the bootstrap never printed "ready")')
    await sleep(POLL_INTERVAL_MS)
  }
  // 2. Every listener answers: c2s with stream features, the API with the users we registered.
  const probes: Array<[string, () => Promise<unknown>]> = [
    ['c2s', async () => await probeFeatures(ports.c2s, domain)],
    ['api', async () => {
      const registered = await callApi<string[]>(ports.api, 'registered_users', { host: domain })
      const missing = users.filter(u => !registered.includes(u.username))
      if (missing.length > 0) throw new Error(`registered_users lacks ${missing.map(u => u.username).join(', ')}: ${JSON.stringify(registered)}`)
    }]
  ]
  if (ports.proxyC2s !== undefined) {
    const proxyC2s = ports.proxyC2s
    probes.push(['proxy c2s', async () => await probeFeatures(proxyC2s, domain, 'PROXY TCP4 127.0.0.1 127.0.0.1 1 2\r\n')])
  }
  await Promise.all(probes.map(async ([name, probe]) => {
    let lastError = ''
    for (;;) {
      if (!launched.alive()) throw new Error(`ejabberd's VM exited while waiting for its ${name} listener`)
      try {
        await probe()
        return
      } catch (err) {
        lastError = (err as Error).message
      }
      if (Date.now() > deadline) throw new Error(`ejabberd's ${name} listener not ready in time (last probe: ${lastError})`)
      await sleep(POLL_INTERVAL_MS)
    }
  }))
}

async function allocatePorts (opts: EjabberdOptions): Promise<Ports> {
  const c2s = await freePort()
  const api = await freePort()
  return opts.proxyProtocol === true ? { c2s, proxyC2s: await freePort(), api } : { c2s, api }
}

/** Start a private ejabberd on loopback; see the module comment. */
export async function startEjabberd (opts: EjabberdOptions = {}): Promise<RunningEjabberd> {
  const rt = findRuntime()
  const domain = opts.domain ?? 'localhost'
  assertDomain(domain)
  const users = [...(opts.users ?? [])]

  const dir = await mkdtemp(join(tmpdir(), 'causeway-ejabberd-'))
  const l: Layout = {
    dir,
    configPath: join(dir, 'ejabberd.yml'),
    usersPath: join(dir, 'users.eterm'),
    logDir: join(dir, 'log'),
    logPath: join(dir, 'log', 'ejabberd.log'),
    msgsDir: join(dir, 'msgs')
  }
  await mkdir(l.logDir)
  await mkdir(l.msgsDir)
  await writeFile(l.usersPath, renderUsers(domain, users), { mode: 0o600 })

  const deadline = Date.now() + (opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS)
  let launched: Launched | undefined
  let ports: Ports | undefined
  try {
    for (let attempt = 1; ; attempt++) {
      ports = await allocatePorts(opts)
      await writeFile(l.configPath, renderConfig(opts, domain, ports))
      await rm(l.logDir, { recursive: true, force: true })
      await mkdir(l.logDir)
      // A fresh Mnesia dir per attempt: a VM that died during start-up may leave a half-made schema.
      const spoolDir = join(dir, `spool-${attempt}`)
      await mkdir(spoolDir)
      launched = launch(rt, l, spoolDir)
      try {
        await waitReady(launched, l, domain, ports, users, deadline)
        break
      } catch (err) {
        // Another process took a port between freePort() and ejabberd's bind: retry with fresh ports.
        if (!(err instanceof PortCollision)) throw err
        if (attempt >= BIND_ATTEMPTS) throw new Error(`${err.message}; gave up after ${attempt} attempts with fresh ports`)
        await halt(launched)
      }
    }
  } catch (err) {
    const output = launched?.output() ?? ''
    const log = readOr(l.logPath)
    if (launched !== undefined) await halt(launched)
    await rm(dir, { recursive: true, force: true })
    throw new Error(`startEjabberd: ${(err as Error).message}\n` +
      `--- last lines of ${l.logPath} ---\n${tail(log, 40)}\n` +
      `--- erl stdout/stderr ---\n${tail(output, 30)}`)
  }

  const proc = launched
  const apiPort = ports.api
  let stopping: Promise<void> | undefined
  let finalLog: string | undefined
  const api = async <T = unknown>(command: string, args: Record<string, unknown> = {}): Promise<T> => await callApi<T>(apiPort, command, args)
  const result: RunningEjabberd = {
    domain,
    host: '127.0.0.1',
    c2sPort: ports.c2s,
    apiPort,
    users,
    dir,
    pid: proc.child.pid ?? -1,
    api,
    addUser: async (u) => {
      const answer = await api<unknown>('register', { user: u.username, host: domain, password: u.password })
      if (typeof answer !== 'string' || !answer.includes('successfully registered')) throw new Error(`register ${u.username}@${domain} failed: ${JSON.stringify(answer)}`)
      users.push(u)
    },
    sessions: async (username) => await api<EjabberdSession[]>('user_sessions_info', { user: username, host: domain }),
    logText: () => {
      const output = proc.output()
      return (finalLog ?? readOr(l.logPath)) + (output !== '' ? `\n--- erl stdout/stderr ---\n${output}` : '')
    },
    waitForLog: async (pattern, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const line = (finalLog ?? readOr(l.logPath)).split('\n').find(candidate => pattern.test(candidate))
        if (line !== undefined) return line
        if (Date.now() > deadline || finalLog !== undefined) throw new Error(`no line matching ${String(pattern)} in ejabberd's log within ${timeoutMs} ms`)
        await sleep(POLL_INTERVAL_MS)
      }
    },
    stop: async () => {
      stopping ??= (async () => {
        await halt(proc)
        finalLog = readOr(l.logPath)
        await rm(dir, { recursive: true, force: true })
      })()
      await stopping
    }
  }
  if (ports.proxyC2s !== undefined) result.proxyC2sPort = ports.proxyC2s
  return result
}
