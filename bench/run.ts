/**
 * `npm run bench`: Causeway against Prosody's own transports and direct TCP,
 * in one interleaved run on one private Prosody (test harness, loopback only,
 * `network_settings = { nagle = false }`).
 *
 * Paths (bench/paths.ts): direct TCP c2s, Causeway WebSocket, Causeway BOSH,
 * Prosody's mod_websocket, Prosody's mod_bosh. Causeway runs as its own
 * process from the build (node dist/bin/causeway.js), one process per
 * transport, so its CPU (/proc) is the relay's CPU and nothing else's.
 *
 * Scenarios, each in rounds that run every path once in a rotated order, so
 * the noise of a shared machine falls on all paths alike (medians reported):
 *   login       N logins per path with 50 in flight     (bench/login.ts)
 *   throughput  closed loop, 50 pairs × 10 in flight     (bench/traffic.ts, bench/exchange.ts)
 *   latency     open loop at 500 and 2,000 msg/s, latency from the intended send time
 *   memory      idle logged-in sessions, 1,000 and 9,000, fresh processes (bench/memory.ts)
 *
 * Exit status 1 only when something is broken: a lost, duplicated,
 * reordered or damaged message, a failed login, a session that ended, a
 * crash, a hang. Slow is never a failure.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { startProsody } from '../test/helpers/prosody.js'
import type { RunningProsody } from '../test/helpers/prosody.js'
import { builtEntry, metricValue, startCausewayProcess } from './causeway-process.js'
import type { CausewayProcess } from './causeway-process.js'
import { startPipeProcess } from './pipe-process.js'
import type { PipeProcess } from './pipe-process.js'
import type { BenchContext } from './context.js'
import { runLoginRounds } from './login.js'
import type { LoginRound } from './login.js'
import { runMemory } from './memory.js'
import type { MemoryRun } from './memory.js'
import { parseOptions, USAGE, UsageError } from './options.js'
import type { BenchOptions, PathName } from './options.js'
import { PATHS } from './paths.js'
import type { Endpoint, User } from './paths.js'
import { memory } from './procstat.js'
import { formatProfile, summariseProfile } from './profile.js'
import { count, fixed, mib } from './report.js'
import { mainTable, rawTables } from './summary.js'
import { closeTrafficSessions, openTrafficSessions, runTrafficRounds } from './traffic.js'
import type { TrafficRound } from './traffic.js'

const log = (text: string) => process.stdout.write(`[bench ${(performance.now() / 1000).toFixed(0).padStart(4)} s] ${text}\n`)

function prosodyVersion(): string {
  try {
    const status = readFileSync('/var/lib/dpkg/status', 'utf8')
    const block = status.split('\n\n').find((b) => b.startsWith('Package: prosody\n'))
    const version = /^Version: (.+)$/m.exec(block ?? '')?.[1]
    return version ? `Prosody ${version} (Debian package)` : 'Prosody (version unknown)'
  } catch {
    return 'Prosody (version unknown)'
  }
}

/** The commit measured, and whether src/ differs from it. */
function gitCommit(): string {
  const root = fileURLToPath(new URL('..', import.meta.url))
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: root, encoding: 'utf8' }).trim() !== ''
    return `${commit}${dirty ? ' with uncommitted changes in src/' : ''}`
  } catch {
    return '(unknown)'
  }
}

interface Relay {
  readonly path: PathName
  readonly process: CausewayProcess
  readonly startKiB: number | undefined
}

async function main(): Promise<number> {
  let options: BenchOptions
  try {
    const parsed = parseOptions(process.argv.slice(2), process.env)
    if (parsed === 'help') {
      process.stdout.write(USAGE)
      return 0
    }
    options = parsed
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`bench: ${error.message}\n\n${USAGE}`)
      return 2
    }
    throw error
  }
  const deadline = setTimeout(() => {
    process.stderr.write(`bench: BROKEN — not finished after ${options.timeoutSeconds} s; something hung\n`)
    process.exit(1)
  }, options.timeoutSeconds * 1000)
  deadline.unref()

  const paths = options.paths
  const scenarios = new Set(options.scenarios)
  const traffic = scenarios.has('throughput') || scenarios.has('latency')
  // Causeway relays; the bare pipe (tcp-pipe) is a relay too, but not Causeway.
  const relayedPaths = paths.filter((p) => p === 'cw-ws' || p === 'cw-bosh')
  const memoryCounts = scenarios.has('memory') && relayedPaths.length > 0 ? options.memory : []

  let entry: string | undefined
  try {
    entry = options.tsx ? undefined : await builtEntry({ build: !options.noBuild, log })
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n`)
    return 1
  }

  const perPath = options.pairs * 2
  const trafficUsers = traffic ? paths.length * perPath : 0
  const userCount = Math.max(trafficUsers + (scenarios.has('login') ? options.logins : 0), ...memoryCounts, 1)
  const users: User[] = Array.from({ length: userCount }, (_, i) => ({ username: `u${i}`, password: `bench-pw-${i}` }))
  log(
    `paths ${paths.join(', ')}; scenarios ${[...scenarios].join(', ')}; ${options.rounds} rounds; ${options.pairs} pairs × ${options.window} in flight for ` +
      `${options.throughputMs} ms; open loop ${options.rates.join(', ')} msg/s for ${options.latencyMs} ms; ${options.logins} logins per round, ` +
      `${options.loginConcurrency} in flight; idle memory at ${memoryCounts.join(', ') || 'none'}; Causeway ${entry === undefined ? 'from src/ under tsx' : 'from dist/'}` +
      `${options.profile ? ', profiled' : ''}${options.quick ? ' (quick)' : ''}`,
  )

  const prosodyStarted = performance.now()
  const prosody: RunningProsody = await startProsody({
    users,
    accountFiles: true,
    scramIterations: 100,
    logLevel: 'info',
    bosh: paths.includes('prosody-bosh'),
    websocket: paths.includes('prosody-ws'),
    startTimeoutMs: 60_000,
    extraConfig: 'network_settings = { nagle = false }',
  })
  const readPid = (): number | undefined => {
    try {
      return Number(readFileSync(join(prosody.dir, 'prosody.pid'), 'utf8').trim()) || undefined
    } catch {
      return undefined
    }
  }
  const prosodyPid = readPid()
  log(`Prosody pid ${prosodyPid ?? '?'} on 127.0.0.1:${prosody.c2sPort}${prosody.httpPort ? ` (http ${prosody.httpPort})` : ''} with ${count(userCount)} users, ready in ${fixed((performance.now() - prosodyStarted) / 1000, 1)} s`)

  const failures: string[] = []
  const notes: string[] = []
  const relays: Relay[] = []
  let pipe: PipeProcess | undefined
  const profileDir = options.profile ? (options.profileDir ?? mkdtempSync(join(os.tmpdir(), 'causeway-bench-profile-'))) : undefined
  if (profileDir) mkdirSync(profileDir, { recursive: true })
  let login: LoginRound[] = []
  let trafficRounds: TrafficRound[] = []
  let memoryRuns: MemoryRun[] = []
  const profiles: string[] = []
  const relayLines: string[] = []
  try {
    const endpoints = new Map<PathName, Endpoint>()
    if (paths.includes('tcp')) endpoints.set('tcp', { path: 'tcp', kind: 'tcp', port: prosody.c2sPort })
    if (paths.includes('prosody-ws')) endpoints.set('prosody-ws', { path: 'prosody-ws', kind: 'ws', url: `ws://127.0.0.1:${prosody.httpPort}/xmpp-websocket` })
    if (paths.includes('prosody-bosh')) endpoints.set('prosody-bosh', { path: 'prosody-bosh', kind: 'bosh', url: `http://127.0.0.1:${prosody.httpPort}/http-bind` })
    if (scenarios.has('login') || traffic) {
      for (const path of relayedPaths) {
        const cw = await startCausewayProcess({
          upstreamPort: prosody.c2sPort,
          sessions: perPath + options.logins + 16,
          entry,
          ...(profileDir ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', `${path}.cpuprofile`] } : {}),
        })
        await new Promise((resolve) => setTimeout(resolve, 1000))
        relays.push({ path, process: cw, startKiB: memory(cw.pid)?.rssKiB })
        endpoints.set(path, { path, kind: PATHS[path].kind, url: path === 'cw-ws' ? cw.wsUrl : cw.boshUrl, relayPid: cw.pid })
        log(`${path}: Causeway pid ${cw.pid} (${cw.command})`)
      }
    }
    if (paths.includes('tcp-pipe') && (scenarios.has('login') || traffic)) {
      pipe = await startPipeProcess(prosody.c2sPort, profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', 'tcp-pipe.cpuprofile'] : [])
      endpoints.set('tcp-pipe', { path: 'tcp-pipe', kind: 'tcp', port: pipe.port, relayPid: pipe.pid })
      log(`tcp-pipe: bare Node pipe pid ${pipe.pid} on 127.0.0.1:${pipe.port}`)
    }
    const ctx: BenchContext = { options, paths, endpoints, prosodyPid, users, log, failures }

    if (scenarios.has('login')) login = await runLoginRounds(ctx, trafficUsers)
    if (traffic) {
      const sessions = await openTrafficSessions(ctx)
      if (scenarios.has('throughput')) {
        trafficRounds.push(...(await runTrafficRounds(ctx, sessions, 'throughput', { kind: 'closed', window: options.window, sendMs: options.throughputMs })))
      }
      if (scenarios.has('latency')) {
        for (const rate of options.rates) {
          trafficRounds.push(...(await runTrafficRounds(ctx, sessions, `latency ${rate}`, { kind: 'open', rate, sendMs: options.latencyMs })))
        }
      }
      await closeTrafficSessions(ctx, sessions)
    }

    // The traffic relays: SIGTERM must end them with exit 0 (and lets node write the profile).
    for (const relay of relays.splice(0)) {
      const cw = relay.process
      const metrics = await cw.metrics().catch(() => '')
      const endKiB = memory(cw.pid)
      const crashed = cw.exitStatus()
      if (crashed) failures.push(`${relay.path}: Causeway exited during the run (code ${String(crashed.code)}, signal ${String(crashed.signal)})`)
      const status = await cw.stop()
      if (!crashed && status.code !== 0) failures.push(`${relay.path}: Causeway did not exit 0 on SIGTERM (code ${String(status.code)}, signal ${String(status.signal)})`)
      const transport = relay.path === 'cw-ws' ? 'websocket' : 'bosh'
      const closes = metrics
        .split('\n')
        .filter((line) => line.startsWith(`causeway_session_closes_total{transport="${transport}"`) && !line.endsWith(' 0'))
        .map((line) => line.replace(/^causeway_session_closes_total\{transport="\w+",condition="([^"]+)"\} /, '$1 '))
      relayLines.push(
        `${relay.path}: RSS ${mib(relay.startKiB)} at start, ${mib(endKiB?.rssKiB)} at the end (peak ${mib(endKiB?.peakKiB)}); ` +
          `stanzas to upstream ${count(metricValue(metrics, `causeway_stanzas_total{transport="${transport}",direction="to_upstream"}`))}, ` +
          `to client ${count(metricValue(metrics, `causeway_stanzas_total{transport="${transport}",direction="to_client"}`))}; session closes: ${closes.join(', ') || 'none'}`,
      )
      const output = cw.output().trim()
      if (output !== '') log(`${relay.path}: Causeway output (warn and above):\n${output.split('\n').slice(-20).join('\n')}`)
      if (profileDir) {
        const file = join(profileDir, `${relay.path}.cpuprofile`)
        if (readdirSync(profileDir).includes(`${relay.path}.cpuprofile`)) profiles.push(formatProfile(`${PATHS[relay.path].label} relay process (${relay.path})`, summariseProfile(file)))
        else failures.push(`${relay.path}: no ${file} after SIGTERM (node writes it only on a normal exit)`)
      }
    }

    if (pipe) {
      const status = await pipe.stop()
      pipe = undefined
      if (status.code !== 0) failures.push(`tcp-pipe: the pipe relay did not exit 0 on SIGTERM (code ${String(status.code)}, signal ${String(status.signal)})`)
      if (profileDir && readdirSync(profileDir).includes('tcp-pipe.cpuprofile')) {
        profiles.push(formatProfile(`${PATHS['tcp-pipe'].label} relay process (tcp-pipe)`, summariseProfile(join(profileDir, 'tcp-pipe.cpuprofile'))))
      }
    }

    if (memoryCounts.length > 0) {
      const restartProsody = async () => {
        await prosody.restart()
        return readPid()
      }
      memoryRuns = await runMemory(ctx, { entry, upstreamPort: prosody.c2sPort, restartProsody, notes })
    }
  } catch (error) {
    failures.push(`aborted: ${(error as Error).stack ?? (error as Error).message}`)
  } finally {
    for (const relay of relays) await relay.process.stop(5000)
    await pipe?.stop()
    await prosody.stop()
  }

  const results = {
    paths,
    pairs: options.pairs,
    window: options.window,
    loginConcurrency: options.loginConcurrency,
    rates: options.rates,
    memoryCounts,
    login,
    traffic: trafficRounds,
    memory: memoryRuns,
  }
  const cpus = os.cpus()
  const lines = [
    '',
    `## Causeway benchmark, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Commit ${gitCommit()}, Causeway ${entry === undefined ? 'from src/ under tsx' : 'built (node dist/bin/causeway.js)'}${options.profile ? ' with --cpu-prof (profiling overhead included in its CPU figures)' : ''}. ` +
      `Machine: ${cpus.length} vCPU (${cpus[0]?.model.trim() ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${prosodyVersion()} with nagle = false.`,
    `${options.rounds} rounds per scenario, path order rotated each round; medians over rounds; "×" and "±" are paired with direct TCP within each round (median of the per-round ratios/differences).`,
    `Throughput: ${options.pairs} pairs (${options.pairs * 2} sessions per path) × ${options.window} in flight per sender for ${options.throughputMs} ms, body ${options.size} B. ` +
      `Latency: open loop, ${options.latencyMs} ms per round and rate, measured from the intended send time. Logins: ${options.logins} per round, ${options.loginConcurrency} in flight, SASL PLAIN + bind. ` +
      `CPU per stanza: the relay process's utime+stime (/proc) ÷ delivered messages (each crosses the relay twice).`,
    '',
    mainTable(results),
    rawTables(results),
  ]
  if (relayLines.length > 0) lines.push('', '### Traffic relay processes', '', ...relayLines.map((l) => `- ${l}`))
  if (profiles.length > 0) lines.push('', `## CPU profiles (${profileDir})`, '', profiles.join('\n\n'))
  if (notes.length > 0) lines.push('', ...notes.map((n) => `Note: ${n}`))
  const noisy = [...login, ...trafficRounds].filter((r) => r.cpu.unattributedPercent > 40 || r.cpu.stealPercent > 10).length
  if (noisy > 0) lines.push('', `Warning: in ${noisy} rounds, other work on the machine or the hypervisor took noticeable CPU (other > 40 % or steal > 10 % of a core); see the raw tables.`)
  lines.push('', failures.length === 0 ? 'Result: OK — nothing broken (every message delivered exactly once and in order, every login succeeded).' : `Result: BROKEN\n${failures.map((f) => `  - ${f}`).join('\n')}`)
  process.stdout.write(lines.join('\n') + '\n')
  return failures.length === 0 ? 0 : 1
}

process.once('SIGINT', () => process.exit(130)) // run the exit hooks: Prosody and Causeway are stopped
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: BROKEN — ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exit(1)
  },
)
