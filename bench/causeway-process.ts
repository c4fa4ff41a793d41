/**
 * Causeway as an operator runs it: its own process, so its memory and CPU
 * are measured apart from the load generator's. The benchmark runs the
 * build (`node dist/bin/causeway.js`, see `builtEntry`); the soak and
 * `--tsx` run src/ under tsx, which costs ~25 MiB of RSS and start-up time
 * an operator does not pay.
 */
import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { freePort } from '../test/helpers/ports.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BIN = fileURLToPath(new URL('../src/bin/causeway.ts', import.meta.url))
const BUILT = join(ROOT, 'dist', 'bin', 'causeway.js')
const MAX_OUTPUT = 64 * 1024

export interface CausewayProcess {
  readonly pid: number
  readonly port: number
  readonly wsUrl: string
  /** http://127.0.0.1:PORT/http-bind */
  readonly boshUrl: string
  /** How it was started, for the report. */
  readonly command: string
  /** Undefined while it runs. */
  exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | undefined
  output(): string
  /** The Prometheus text from /metrics. */
  metrics(): Promise<string>
  /** SIGTERM, wait (SIGKILL after `timeoutMs`); resolves with the exit status. */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

const live = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

export interface CausewayProcessOptions {
  readonly upstreamPort: number
  /** Sessions the benchmark will open: the session caps are raised to allow them. */
  readonly sessions: number
  /** A built entry point (e.g. dist/bin/causeway.js) to run with plain node instead of src/bin/causeway.ts under tsx. */
  readonly entry?: string | undefined
  readonly startTimeoutMs?: number
  /** More command-line flags, after the defaults (a later flag wins). */
  readonly extraArgs?: readonly string[]
  /** Listen on this port instead of a fresh free one (so that peers can be told it first). */
  readonly port?: number
  /** Flags for node itself, before the entry point (e.g. --cpu-prof). */
  readonly nodeArgs?: readonly string[]
}

function newestMtime(dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs)
  }
  return newest
}

/**
 * The built entry point, dist/bin/causeway.js. Built first (tsc -p tsconfig.build.json, what
 * `npm run build` does) when it is missing or older than a file in src/, unless `build` is false:
 * then a missing build is an error that says to run `npm run build`.
 */
export async function builtEntry(options: { build: boolean; log: (text: string) => void }): Promise<string> {
  let builtAt: number | undefined
  try {
    builtAt = statSync(BUILT).mtimeMs
  } catch {
    builtAt = undefined
  }
  const stale = builtAt === undefined || newestMtime(join(ROOT, 'src')) > builtAt
  if (!stale) return BUILT
  if (!options.build) {
    if (builtAt === undefined) throw new Error(`${BUILT} does not exist: run \`npm run build\` first (or drop --no-build, or use --tsx)`)
    options.log('dist/ is older than src/, and --no-build was given: running the old build')
    return BUILT
  }
  options.log(`building Causeway (${builtAt === undefined ? 'no dist/ yet' : 'src/ changed since the last build'}): tsc -p tsconfig.build.json`)
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  try {
    await promisify(execFile)(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 })
  } catch (error) {
    const e = error as Error & { stdout?: string; stderr?: string }
    throw new Error(`the build failed; fix it and run \`npm run build\` (or use --tsx):\n${e.stdout ?? ''}${e.stderr ?? e.message}`)
  }
  return BUILT
}

export async function startCausewayProcess(options: CausewayProcessOptions): Promise<CausewayProcess> {
  const port = options.port ?? (await freePort())
  const cap = String(Math.max(options.sessions + 16, 50))
  const args = [
    '--host', '127.0.0.1',
    '--port', String(port),
    '--upstream', `localhost=tcp://127.0.0.1:${options.upstreamPort}`,
    '--log-level', 'warn',
    '--max-sessions', String(Math.max(Number(cap), 10000)),
    '--max-sessions-per-ip', cap,
    ...(options.extraArgs ?? []),
  ]
  const nodeArgs = [...(options.nodeArgs ?? []), ...(options.entry === undefined ? ['--import', 'tsx', BIN] : [options.entry]), ...args]
  const child = spawn(process.execPath, nodeArgs, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } })
  live.add(child)
  let output = ''
  const capture = (chunk: Buffer) => {
    output += chunk.toString()
    if (output.length > MAX_OUTPUT) output = output.slice(-MAX_OUTPUT)
  }
  child.stdout.on('data', capture)
  child.stderr.on('data', capture)
  let status: { code: number | null; signal: NodeJS.Signals | null } | undefined
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      status = { code, signal }
      live.delete(child)
      resolve(status)
    })
    child.once('error', (error) => {
      capture(Buffer.from(`spawn failed: ${error.message}\n`))
      status = { code: null, signal: null }
      live.delete(child)
      resolve(status)
    })
  })

  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000)
  for (;;) {
    if (status) throw new Error(`causeway exited during start-up (code ${String(status.code)}, signal ${String(status.signal)}):\n${output}`)
    try {
      const response = await fetch(`${base}/healthz`)
      if (response.ok) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`causeway did not answer /healthz within ${options.startTimeoutMs ?? 30_000} ms:\n${output}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }

  const shown = nodeArgs.map((a) => (a === BIN ? 'src/bin/causeway.ts' : a.startsWith(ROOT) ? a.slice(ROOT.length) : a))
  return {
    pid: child.pid!,
    port,
    wsUrl: `ws://127.0.0.1:${port}/xmpp-websocket`,
    boshUrl: `${base}/http-bind`,
    command: `node ${shown.join(' ')}`,
    exitStatus: () => status,
    output: () => output,
    metrics: async () => await (await fetch(`${base}/metrics`)).text(),
    stop: async (timeoutMs = 15_000) => {
      if (status) return status
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
      const result = await exited
      clearTimeout(timer)
      return result
    },
  }
}

/** One sample's value from Prometheus text, e.g. metric(text, 'causeway_sessions_open{transport="websocket"}'). */
export function metricValue(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1))
  }
  return undefined
}
