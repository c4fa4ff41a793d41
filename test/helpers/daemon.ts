/**
 * The process machinery the proxy harnesses (haproxy.ts, nginx.ts,
 * squid.ts) share: find the Debian binary, spawn it in the foreground in a
 * fresh temp dir on a free loopback port, wait until the port accepts
 * connections, retry on a port collision, surface the daemon's logs on
 * failure, and never leave a process behind.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { accessSync, constants as fsConstants, readFileSync } from 'node:fs'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { basename, delimiter, isAbsolute, join } from 'node:path'
import { freePort } from './ports.js'
import { cleanUpOnExit } from './exit-cleanup.js'


export interface DaemonContext {
  /** The daemon's private temp dir (removed by stop()). */
  readonly dir: string
  /** A free port on 127.0.0.1 for the daemon to listen on. */
  readonly port: number
}

export interface DaemonSpec {
  /** For messages: 'HAProxy'. */
  readonly name: string
  /** Executable looked up on PATH, then in /usr/sbin and /usr/local/sbin; an absolute path is used as it is. */
  readonly binary: string
  /** The Debian package that provides it, for the install hint. */
  readonly debianPackage: string
  /** Write the config into ctx.dir; returns the arguments for the binary. Called again with a new port after a collision. */
  readonly prepare: (ctx: DaemonContext) => Promise<string[]>
  /** Log files (names inside the dir) shown by logs() and in failures, after the captured stdout/stderr. */
  readonly logFiles?: readonly string[]
  /** True when the logs say the listening port was taken by someone else: try again with another. */
  readonly portTaken: (logs: string, port: number) => boolean
  /** Besides accepting TCP connections, what the logs must show before the daemon counts as ready. */
  readonly readyWhen?: (logs: string, port: number) => boolean
  /** Ran after the process is gone and before the dir is removed (e.g. shared-memory leftovers). */
  readonly cleanup?: () => void
  /** The same as a shell command, for the watchdog that cleans up after a killed test process. */
  readonly cleanupCommand?: string
  readonly startTimeoutMs?: number
  /** Working directory of the process; default the daemon's temp dir. */
  readonly cwd?: string
  /** How much of the captured stdout/stderr to keep (the tail); default 64 KiB. */
  readonly maxOutputBytes?: number
  /** Extra environment for the process, on top of this one's. */
  readonly env?: Readonly<Record<string, string>>
  /** Listen on this port (chosen by the caller, e.g. so that peers can be told it first) instead of a fresh free one; no retry on a collision. */
  readonly port?: number
}

export interface RunningDaemon {
  readonly port: number
  readonly dir: string
  /** The daemon's process id (also its process group id). */
  readonly pid: number
  /** Send a signal to the daemon's process group (e.g. SIGTERM to start a graceful shutdown without waiting for it); false if it is gone. */
  signal(signal: NodeJS.Signals): boolean
  /** Captured stdout/stderr plus the log files; still works after stop(). */
  logs(): string
  /** SIGTERM to the daemon's process group, SIGKILL after a grace period, remove the dir. Idempotent. */
  stop(): Promise<void>
}

const POLL_MS = 50
const STOP_GRACE_MS = 5000
const BIND_ATTEMPTS = 3
const MAX_OUTPUT = 64 * 1024

/** Absolute path of a daemon binary, or a clear error naming the Debian package. */
export function findDaemon(binary: string, debianPackage: string, name = binary): string {
  if (isAbsolute(binary)) {
    try {
      accessSync(binary, fsConstants.X_OK)
      return binary
    } catch {
      throw new Error(`${name} is required for this test but ${binary} is not executable. Install it with: apt-get install -y ${debianPackage}`)
    }
  }
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin']
  for (const dir of dirs) {
    if (dir === '') continue
    const candidate = join(dir, binary)
    try {
      accessSync(candidate, fsConstants.X_OK)
      return candidate
    } catch {}
  }
  throw new Error(
    `${name} is required for this test but \`${binary}\` was not found on PATH or in /usr/sbin. Install it with: apt-get install -y ${debianPackage}`,
  )
}

/** `text` with `from` replaced by `to`; throws unless `from` occurs exactly `count` times, so a changed config cannot go unnoticed. */
export function replaceExactly(text: string, from: string, to: string, file: string, count = 1): string {
  const found = text.split(from).length - 1
  if (found !== count)
    throw new Error(
      `${file}: expected ${count} occurrence(s) of ${JSON.stringify(from)}, found ${found}; update the test harness together with the file`,
    )
  return text.split(from).join(to)
}

// Daemons still running, by process group id: the function that unregisters each from the exit cleanup.
const live = new Map<number, () => void>()

/**
 * If this Node process dies without running its exit hooks (SIGKILL, a tap
 * timeout's SIGTERM), a detached shell notices within a second and ends the
 * daemon's process group. It also exits as soon as the daemon does.
 */
function startWatchdog(pgid: number, dir: string, cleanup: string | undefined): void {
  // POSIX sh (dash on Debian): `kill -SIG -PGID` signals the group; dash's kill takes no `--`.
  const script = [
    `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${pgid} 2>/dev/null; do sleep 1; done`,
    // The daemon went first: it was stopped normally, nothing to do.
    `if kill -0 ${pgid} 2>/dev/null; then`,
    `  kill -TERM -${pgid} 2>/dev/null`,
    `  for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 -${pgid} 2>/dev/null || break; sleep 0.5; done`,
    `  kill -KILL -${pgid} 2>/dev/null`,
    `  rm -rf '${dir}'`,
    ...(cleanup !== undefined ? [`  ${cleanup}`] : []),
    'fi',
  ].join('\n')
  const watchdog = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' })
  watchdog.on('error', () => {})
  watchdog.unref()
}

interface Launched {
  readonly child: ChildProcess
  readonly alive: () => boolean
  readonly output: () => string
  readonly exited: Promise<void>
  killed?: Promise<void>
}

function launch(binary: string, args: string[], dir: string, spec: DaemonSpec): Launched {
  const maxOutput = spec.maxOutputBytes ?? MAX_OUTPUT
  // Its own process group, so stop() reaches worker processes too (nginx).
  const child = spawn(binary, args, { cwd: spec.cwd ?? dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...(spec.env ? { env: { ...process.env, ...spec.env } } : {}) })
  let output = ''
  let alive = true
  const capture = (chunk: Buffer): void => {
    output += chunk.toString()
    if (output.length > maxOutput) output = output.slice(-maxOutput)
  }
  child.stdout?.on('data', capture)
  child.stderr?.on('data', capture)
  child.once('exit', () => {
    alive = false
  })
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => resolve())
    child.once('error', (err) => {
      alive = false
      capture(Buffer.from(`spawn ${binary} failed: ${err.message}\n`))
      resolve()
    })
  })
  const pid = child.pid
  if (pid !== undefined) {
    live.set(pid, cleanUpOnExit(() => process.kill(-pid, 'SIGKILL'), dir))
    startWatchdog(pid, dir, spec.cleanupCommand)
  }
  return { child, alive: () => alive, output: () => output, exited }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

async function kill(launched: Launched): Promise<void> {
  launched.killed ??= killOnce(launched)
  await launched.killed
}

async function killOnce(launched: Launched): Promise<void> {
  const pid = launched.child.pid
  const signalGroup = (signal: NodeJS.Signals) => {
    if (pid === undefined) return
    try {
      process.kill(-pid, signal)
    } catch {}
  }
  if (launched.alive()) {
    signalGroup('SIGTERM')
    const deadline = Date.now() + STOP_GRACE_MS
    while (launched.alive() && Date.now() < deadline) await Promise.race([launched.exited, sleep(POLL_MS)])
  }
  // Whatever is left of the group (a worker that outlived its master) goes too.
  signalGroup('SIGKILL')
  await launched.exited
  if (pid !== undefined) {
    live.get(pid)?.()
    live.delete(pid)
  }
}

function probe(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    const done = (ok: boolean) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => done(false), timeoutMs)
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return ''
  }
}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n')
}

class PortTaken extends Error {}

/** Start a daemon in the foreground in a fresh temp dir and wait until it accepts connections on its port. */
export async function startDaemon(spec: DaemonSpec): Promise<RunningDaemon> {
  const binary = findDaemon(spec.binary, spec.debianPackage, spec.name)
  const dir = await mkdtemp(join(tmpdir(), `causeway-${basename(spec.binary)}-`))
  // The path goes into config files and the watchdog's shell script unquoted or in single quotes.
  if (!/^[\w./-]+$/.test(dir)) throw new Error(`${spec.name}: unusable temp dir path ${JSON.stringify(dir)} (set TMPDIR to a plain path)`)
  // Traversable for the unprivileged user a daemon may switch to when run as root.
  await chmod(dir, 0o755)
  const fileLogs = () => (spec.logFiles ?? []).map((name) => `--- ${name} ---\n${readOr(join(dir, name))}`).join('\n')
  const deadline = Date.now() + (spec.startTimeoutMs ?? 15_000)

  let launched: Launched | undefined
  let port = 0
  try {
    for (let attempt = 1; ; attempt++) {
      port = spec.port ?? (await freePort())
      // A previous attempt's logs would still show its bind failure.
      await Promise.all((spec.logFiles ?? []).map((name) => rm(join(dir, name), { force: true })))
      const args = await spec.prepare({ dir, port })
      launched = launch(binary, args, dir, spec)
      try {
        await waitReady(spec, launched, port, fileLogs, deadline)
        break
      } catch (err) {
        await kill(launched)
        if (!(err instanceof PortTaken)) throw err
        if (attempt >= BIND_ATTEMPTS || spec.port !== undefined) throw new Error(`${err.message}; gave up after ${attempt} attempts with fresh ports`)
      }
    }
  } catch (err) {
    const output = launched?.output() ?? ''
    const logs = fileLogs()
    if (launched !== undefined) await kill(launched)
    spec.cleanup?.()
    await rm(dir, { recursive: true, force: true })
    throw new Error(`${(err as Error).message}\n--- ${spec.binary} stdout/stderr ---\n${tail(output, 40)}\n${tail(logs, 60)}`)
  }

  const running = launched
  let stopping: Promise<void> | undefined
  let finalLogs: string | undefined
  return {
    port,
    dir,
    pid: running.child.pid ?? 0,
    signal: (signal) => {
      const pid = running.child.pid
      if (pid === undefined || !running.alive()) return false
      try {
        process.kill(-pid, signal)
        return true
      } catch {
        return false
      }
    },
    logs: () => finalLogs ?? `--- ${spec.binary} stdout/stderr ---\n${running.output()}\n${fileLogs()}`,
    stop: async () => {
      stopping ??= (async () => {
        await kill(running)
        finalLogs = `--- ${spec.binary} stdout/stderr ---\n${running.output()}\n${fileLogs()}`
        spec.cleanup?.()
        await rm(dir, { recursive: true, force: true })
      })()
      await stopping
    },
  }
}

async function waitReady(spec: DaemonSpec, launched: Launched, port: number, fileLogs: () => string, deadline: number): Promise<void> {
  const logs = () => launched.output() + '\n' + fileLogs()
  for (;;) {
    if (spec.portTaken(logs(), port)) throw new PortTaken(`${spec.name} could not bind 127.0.0.1:${port}: in use by another process`)
    if (!launched.alive()) {
      await launched.exited
      throw new Error(
        `${spec.name} exited during start-up (code ${String(launched.child.exitCode)}, signal ${String(launched.child.signalCode)})`,
      )
    }
    if ((spec.readyWhen?.(logs(), port) ?? true) && (await probe(port, 500))) {
      // A collision can be reported just after someone else's socket answered the probe.
      await sleep(POLL_MS)
      if (spec.portTaken(logs(), port)) throw new PortTaken(`${spec.name} could not bind 127.0.0.1:${port}: in use by another process`)
      if (launched.alive()) return
      continue
    }
    if (Date.now() > deadline) throw new Error(`${spec.name} did not accept connections on 127.0.0.1:${port} in time`)
    await sleep(POLL_MS)
  }
}

