/**
 * `npm run bench`: the WebSocket benchmark.
 *
 * One private Prosody (test harness, loopback only). The same scenario —
 * N pairs of logged-in sessions exchanging chat messages — runs twice:
 *
 *   tcp  load generator ──TCP──▶ Prosody                    (baseline)
 *   ws   load generator ──WebSocket──▶ Causeway ──TCP──▶ Prosody
 *
 * Causeway runs as its own process so its RSS and CPU are its own. Each path
 * gets a short warm-up, a throughput run (closed loop: a window of messages
 * in flight per sender) and a paced run (a fixed aggregate rate, for latency
 * below saturation). Exit status 1 only when something is broken: a lost,
 * duplicated, reordered or damaged message, a failed login, a session that
 * ended, a crash, a hang. Slow is never a failure.
 */
import { readFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { startProsody } from '../test/helpers/prosody.js'
import type { RunningProsody } from '../test/helpers/prosody.js'
import { metricValue, startCausewayProcess } from './causeway-process.js'
import type { CausewayProcess } from './causeway-process.js'
import { runExchange } from './exchange.js'
import type { ExchangeResult } from './exchange.js'
import { runIdleBosh } from './bosh-idle.js'
import type { IdleBoshReport } from './bosh-idle.js'
import { parseOptions, USAGE, UsageError } from './options.js'
import type { BenchOptions, PathName } from './options.js'
import { CpuMeter, memory } from './procstat.js'
import type { MemorySample } from './procstat.js'
import { count, fixed, markdownTable, mib, ms } from './report.js'
import { XmppLink } from './xmpp-link.js'
import type { LinkKind } from './xmpp-link.js'

const DOMAIN = 'localhost'
const LOGIN_TIMEOUT_MS = 30_000
const CLOSE_TIMEOUT_MS = 10_000
const SETTLE_MS = 1000
const GRACE_MS = 300
const MIN_SESSIONS_FOR_RSS = 100

interface User {
  readonly username: string
  readonly password: string
}

interface RunReport {
  readonly path: PathName
  readonly run: string
  readonly result: ExchangeResult
  readonly cpu: ReturnType<CpuMeter['stop']>
}

interface PathReport {
  readonly path: PathName
  readonly sessions: number
  readonly loginSeconds: number
  readonly runs: RunReport[]
  readonly uncleanCloses: number
  readonly memory?: {
    readonly cold: MemorySample | undefined
    readonly before: MemorySample | undefined
    readonly withSessions: MemorySample | undefined
    readonly afterTraffic: MemorySample | undefined
    readonly afterClose: MemorySample | undefined
  }
  readonly causewayCommand?: string
  readonly causewayMetrics?: string
}

const log = (text: string) => process.stdout.write(`[bench] ${text}\n`)
const sleep = (msec: number) => new Promise((resolve) => setTimeout(resolve, msec))

function label(path: PathName): string {
  switch (path) {
    case 'tcp':
      return 'TCP direct to Prosody'
    case 'ws':
      return 'WebSocket via Causeway'
    case 'bosh-causeway':
      return 'BOSH via Causeway'
    case 'bosh-prosody':
      return "BOSH via Prosody's mod_bosh"
  }
}

function kindOf(path: PathName): LinkKind {
  return path === 'tcp' ? 'tcp' : path === 'ws' ? 'ws' : 'bosh'
}

/** Paths whose sessions go through Causeway (its CPU and memory are reported). */
function viaCauseway(path: PathName): boolean {
  return path === 'ws' || path === 'bosh-causeway'
}

async function openSessions(
  kind: LinkKind,
  target: { port?: number; url?: string },
  users: readonly User[],
  resource: string,
  concurrency: number,
): Promise<{ links: XmppLink[]; seconds: number }> {
  const links: XmppLink[] = new Array<XmppLink>(users.length)
  const started = performance.now()
  let next = 0
  let failure: Error | undefined
  const worker = async () => {
    while (failure === undefined && next < users.length) {
      const i = next++
      const user = users[i]!
      try {
        links[i] = await XmppLink.login({ kind, ...target, domain: DOMAIN, ...user, resource, timeoutMs: LOGIN_TIMEOUT_MS })
      } catch (error) {
        failure ??= error as Error
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, users.length) }, worker))
  if (failure !== undefined) {
    for (const link of links) link?.destroy()
    throw failure
  }
  return { links, seconds: (performance.now() - started) / 1000 }
}

async function closeSessions(links: readonly XmppLink[]): Promise<number> {
  const clean = await Promise.all(links.map((link) => link.close(CLOSE_TIMEOUT_MS)))
  return clean.filter((ok) => !ok).length
}

function problems(result: ExchangeResult): string[] {
  const out: string[] = []
  if (result.lost > 0) out.push(`${result.lost} lost`)
  if (result.notSent > 0) out.push(`${result.notSent} not sent (the run ended early)`)
  if (result.duplicates > 0) out.push(`${result.duplicates} duplicated`)
  if (result.outOfOrder > 0) out.push(`${result.outOfOrder} out of order`)
  if (result.misrouted > 0) out.push(`${result.misrouted} misrouted`)
  if (result.damaged > 0) out.push(`${result.damaged} damaged`)
  if (result.stray > 0) out.push(`${result.stray} stray (from an earlier run)`)
  if (result.bounced > 0) out.push(`${result.bounced} error bounces / unexpected stanzas`)
  if (result.connectionErrors.length > 0) out.push(`${result.connectionErrors.length} sessions ended during the run`)
  if (result.stalled) out.push('stalled')
  return out
}

async function runPath(
  path: PathName,
  target: { port?: number; url?: string },
  users: readonly User[],
  options: BenchOptions,
  pids: Record<string, number | undefined>,
  failures: string[],
  hooks: { afterLogin?: () => Promise<void>; afterTraffic?: () => Promise<void>; afterClose?: () => Promise<void> } = {},
): Promise<Omit<PathReport, 'memory' | 'causewayCommand' | 'causewayMetrics'>> {
  log(`${label(path)}: logging in ${users.length} sessions (${options.loginConcurrency} at a time)`)
  const { links, seconds } = await openSessions(kindOf(path), target, users, path, options.loginConcurrency)
  log(`${label(path)}: ${links.length} sessions in ${seconds.toFixed(2)} s`)
  await hooks.afterLogin?.()
  const runs: RunReport[] = []
  const senders = links.length
  const plan: Array<{ run: string; tag: string; messages: number; rate: number | undefined; report: boolean }> = [
    { run: 'warm-up', tag: `${path}w`, messages: Math.min(20, options.messages), rate: undefined, report: false },
    { run: `window ${options.window}`, tag: `${path}t`, messages: options.messages, rate: undefined, report: true },
  ]
  if (options.rate > 0) {
    const perSender = Math.max(1, Math.round((options.rate * options.pacedSeconds) / senders))
    plan.push({ run: `paced ${count(options.rate)}/s`, tag: `${path}p`, messages: perSender, rate: options.rate, report: true })
  }
  for (const step of plan) {
    const meter = new CpuMeter(pids)
    const result = await runExchange(links, {
      tag: step.tag,
      messagesPerSender: step.messages,
      bodyBytes: options.size,
      window: options.window,
      ratePerSecond: step.rate,
      stallMs: options.stallMs,
      graceMs: GRACE_MS,
    })
    const cpu = meter.stop()
    const bad = problems(result)
    log(
      `${label(path)} ${step.run}: ${count(result.delivered)}/${count(result.expected)} delivered in ${fixed(result.durationMs / 1000, 2)} s, ` +
        `${count(result.stanzasPerSecond)} stanzas/s, p50 ${ms(result.latencyMs.p50)} ms, p99 ${ms(result.latencyMs.p99)} ms` +
        (bad.length > 0 ? ` — BROKEN: ${bad.join(', ')}` : ''),
    )
    for (const s of result.samples) log(`  ${s}`)
    if (bad.length > 0) failures.push(`${label(path)} ${step.run}: ${bad.join(', ')}`)
    if (step.report) runs.push({ path, run: step.run, result, cpu })
    if (result.connectionErrors.length > 0 || result.stalled) break
  }
  await hooks.afterTraffic?.()
  const uncleanCloses = await closeSessions(links)
  if (uncleanCloses > 0) failures.push(`${label(path)}: ${uncleanCloses} of ${links.length} sessions did not close cleanly (both sides' stream close, within ${CLOSE_TIMEOUT_MS} ms)`)
  log(`${label(path)}: sessions closed${uncleanCloses > 0 ? ` (${uncleanCloses} not cleanly)` : ''}`)
  await hooks.afterClose?.()
  return { path, sessions: links.length, loginSeconds: seconds, runs, uncleanCloses }
}

function perSessionKiB(r: PathReport): number | undefined {
  const mem = r.memory
  return mem?.withSessions && mem.before ? (mem.withSessions.rssKiB - mem.before.rssKiB) / r.sessions : undefined
}

function perSessionText(r: PathReport): string {
  const perSession = perSessionKiB(r)
  // With few sessions the difference is smaller than what one garbage collection frees or leaves behind.
  return perSession === undefined ? '–' : `${fixed(perSession, 1)} KiB${r.sessions < MIN_SESSIONS_FOR_RSS ? ` (noise: < ${MIN_SESSIONS_FOR_RSS} sessions)` : ''}`
}

function printReport(
  options: BenchOptions,
  reports: readonly PathReport[],
  idle: IdleBoshReport | undefined,
  prosody: RunningProsody | undefined,
  failures: readonly string[],
): void {
  const lines: string[] = []
  lines.push('', '## Results', '')
  lines.push(
    markdownTable(
      ['path', 'run', 'pairs', 'messages', 'stanzas/s', 'p50 ms', 'p99 ms', 'RSS before sessions', 'RSS with sessions', 'RSS/session'],
      reports.flatMap((r) =>
        r.runs.map((run) => [
          label(r.path),
          run.run,
          String(r.sessions / 2),
          count(run.result.expected),
          count(run.result.stanzasPerSecond),
          ms(run.result.latencyMs.p50),
          ms(run.result.latencyMs.p99),
          r.memory ? mib(r.memory.before?.rssKiB) : '–',
          r.memory ? mib(r.memory.withSessions?.rssKiB) : '–',
          r.memory ? perSessionText(r) : '–',
        ]),
      ),
    ),
  )
  if (reports.some((r) => kindOf(r.path) === 'bosh') && options.boshPairs < options.pairs) {
    lines.push('', `The BOSH paths ran with ${options.boshPairs} pairs (--bosh-pairs), not ${options.pairs}: their figures compare with each other, not with TCP/WebSocket at another session count.`)
  }
  lines.push('', '### Delivery and latency detail', '')
  lines.push(
    markdownTable(
      ['path', 'run', 'delivered', 'lost', 'dup', 'reordered', 'p90 ms', 'max ms', 'mean ms', 'duration s'],
      reports.flatMap((r) =>
        r.runs.map((run) => [
          label(r.path),
          run.run,
          `${count(run.result.delivered)}/${count(run.result.expected)}`,
          count(run.result.lost),
          count(run.result.duplicates),
          count(run.result.outOfOrder),
          ms(run.result.latencyMs.p90),
          ms(run.result.latencyMs.max),
          ms(run.result.latencyMs.mean),
          fixed(run.result.durationMs / 1000, 2),
        ]),
      ),
    ),
  )
  lines.push('', `### CPU during each run (% of one core; the machine has ${os.cpus().length}; "machine busy" is % of all of them)`, '')
  lines.push(
    markdownTable(
      ['path', 'run', 'load generator', 'Causeway', 'Prosody', 'other', 'steal', 'machine busy', 'Causeway µs/msg', 'Prosody µs/msg'],
      reports.flatMap((r) =>
        r.runs.map((run) => {
          const perMsg = (name: string) => {
            const s = run.cpu.cpuSeconds[name]
            return s === undefined || run.result.delivered === 0 ? '–' : fixed((s / run.result.delivered) * 1e6, 0)
          }
          return [
            label(r.path),
            run.run,
            `${fixed(run.cpu.percent['load generator'], 0)} %`,
            viaCauseway(r.path) ? `${fixed(run.cpu.percent.causeway, 0)} %` : '–',
            `${fixed(run.cpu.percent.prosody, 0)} %`,
            `${fixed(run.cpu.unattributedPercent, 0)} %`,
            `${fixed(run.cpu.stealPercent, 0)} %`,
            `${fixed(run.cpu.machineBusyPercent, 0)} %`,
            viaCauseway(r.path) ? perMsg('causeway') : '–',
            perMsg('prosody'),
          ]
        }),
      ),
    ),
  )
  lines.push(
    '',
    '"other": busy CPU not used by these processes — the kernel\'s loopback TCP work (softirq) and anything else running on the machine;',
    '"steal": CPU time the hypervisor gave to other guests while this VM wanted it. µs/msg: CPU time per delivered message.',
  )
  lines.push('', '### Sessions', '')
  lines.push(
    markdownTable(
      ['path', 'sessions', 'login time', 'logins/s', 'unclean closes'],
      reports.map((r) => [label(r.path), String(r.sessions), `${fixed(r.loginSeconds, 2)} s`, count(r.sessions / r.loginSeconds), String(r.uncleanCloses)]),
    ),
  )
  for (const r of reports) {
    const mem = r.memory
    if (!mem) continue
    lines.push('', `### Causeway memory, ${label(r.path)} (${r.sessions} sessions; RSS from /proc/PID/status)`, '')
    lines.push(
      markdownTable(
        ['idle (cold)', 'before sessions', 'with sessions', 'after traffic', 'after close', 'peak (VmHWM)', 'per session'],
        [
          [
            mib(mem.cold?.rssKiB),
            mib(mem.before?.rssKiB),
            mib(mem.withSessions?.rssKiB),
            mib(mem.afterTraffic?.rssKiB),
            mib(mem.afterClose?.rssKiB),
            mib(mem.afterClose?.peakKiB),
            perSessionText(r),
          ],
        ],
      ),
    )
    lines.push(
      '',
      '"before sessions" is measured after one warm-up login/logout (so code loaded on first use is not counted per session);',
      '"per session" = (with sessions − before sessions) / sessions. RSS includes garbage not yet collected.',
    )
    if (r.causewayCommand) lines.push(`Causeway command: ${r.causewayCommand}`)
    if (r.causewayMetrics) {
      const m = r.causewayMetrics
      const v = (series: string) => count(metricValue(m, series))
      const t = r.path === 'ws' ? 'websocket' : 'bosh'
      lines.push(
        `Causeway /metrics at the end: stanzas to upstream ${v(`causeway_stanzas_total{transport="${t}",direction="to_upstream"}`)}, ` +
          `to client ${v(`causeway_stanzas_total{transport="${t}",direction="to_client"}`)}, ` +
          `closes normal ${v(`causeway_session_closes_total{transport="${t}",condition="normal"}`)}, ` +
          `V8 heap used ${mib((metricValue(m, 'causeway_nodejs_heap_size_used_bytes') ?? NaN) / 1024)}`,
      )
      const closes = m
        .split('\n')
        .filter((line) => line.startsWith(`causeway_session_closes_total{transport="${t}"`) && !line.includes('condition="normal"') && !line.endsWith(' 0'))
      if (closes.length > 0) lines.push(`Other session closes: ${closes.join('; ')}`)
    }
  }
  if (idle) lines.push(...idle.lines)
  lines.push(
    '',
    `Settings: pairs ${options.pairs} (BOSH ${options.boshPairs}), messages ${options.messages} per session and direction, body ${options.size} bytes, ` +
      `window ${options.window}, paced ${options.rate > 0 ? `${options.rate}/s for ${options.pacedSeconds} s` : 'off'}, ` +
      `Prosody Nagle ${options.prosodyNoDelay ? 'off (network_settings.nagle = false)' : 'on (its default)'}${options.quick ? ' (quick)' : ''}.`,
    `Machine: ${os.cpus().length} vCPU (${os.cpus()[0]?.model.trim() ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ` +
      `${prosodyVersion()}${prosody ? '' : ''}.`,
  )
  const busy = reports.flatMap((r) =>
    r.runs
      .filter((run) => run.cpu.unattributedPercent > 30 || run.cpu.stealPercent > 10)
      .map((run) => `${label(r.path)} ${run.run} (other ${fixed(run.cpu.unattributedPercent, 0)} %, steal ${fixed(run.cpu.stealPercent, 0)} %)`),
  )
  if (busy.length > 0) {
    lines.push('', `Warning: other work or the hypervisor took CPU during ${busy.join(', ')}; those figures understate what these processes can do.`)
  }
  lines.push('', failures.length === 0 ? 'Result: OK — every message delivered exactly once, in order.' : `Result: BROKEN\n${failures.map((f) => `  - ${f}`).join('\n')}`)
  process.stdout.write(lines.join('\n') + '\n')
}

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

  const sessions = options.pairs * 2
  const users: User[] = Array.from({ length: sessions }, (_, i) => ({ username: `u${i}`, password: `bench-pw-${i}` }))
  log(
    `pairs ${options.pairs} (${sessions} sessions per path), ${options.messages} messages per session and direction, ` +
      `body ${options.size} B, window ${options.window}, paced ${options.rate > 0 ? `${options.rate}/s × ${options.pacedSeconds} s` : 'off'}, ` +
      `Prosody Nagle ${options.prosodyNoDelay ? 'off' : 'on'}, paths ${options.paths.join(',')}${options.quick ? ', quick' : ''}`,
  )
  const prosodyStarted = performance.now()
  const prosody = await startProsody({
    users,
    scramIterations: 100,
    logLevel: 'info',
    // prosodyctl registers about a dozen users a second here.
    startTimeoutMs: 30_000 + sessions * 250,
    bosh: options.paths.includes('bosh-prosody'),
    // Idle BOSH sessions are unauthenticated c2s streams to Prosody, which closes those after c2s_timeout (300 s).
    extraConfig: [
      ...(options.prosodyNoDelay ? ['network_settings = { nagle = false }'] : []),
      ...(options.idleBosh.length > 0 ? ['c2s_timeout = 3600'] : []),
    ].join('\n'),
  })
  let prosodyPid: number | undefined
  try {
    prosodyPid = Number(readFileSync(join(prosody.dir, 'prosody.pid'), 'utf8').trim()) || undefined
  } catch {
    prosodyPid = undefined
  }
  log(`Prosody on 127.0.0.1:${prosody.c2sPort} (pid ${prosodyPid ?? '?'}) with ${sessions} users, ready in ${fixed((performance.now() - prosodyStarted) / 1000, 1)} s`)

  const failures: string[] = []
  const reports: PathReport[] = []
  let idle: IdleBoshReport | undefined
  let causeway: CausewayProcess | undefined
  try {
    for (const path of options.paths) {
      const pathUsers = kindOf(path) === 'bosh' ? users.slice(0, options.boshPairs * 2) : users
      if (path === 'tcp') {
        reports.push(await runPath('tcp', { port: prosody.c2sPort }, pathUsers, options, { prosody: prosodyPid }, failures))
        continue
      }
      if (path === 'bosh-prosody') {
        const url = `http://127.0.0.1:${prosody.httpPort ?? 0}/http-bind`
        log(`${label(path)}: ${url}${options.boshPairs < options.pairs ? ` (${options.boshPairs} pairs, --bosh-pairs)` : ''}`)
        reports.push(await runPath('bosh-prosody', { url }, pathUsers, options, { prosody: prosodyPid }, failures))
        continue
      }
      causeway = await startCausewayProcess({ upstreamPort: prosody.c2sPort, sessions: pathUsers.length, entry: options.causewayEntry })
      const cw = causeway
      const url = path === 'ws' ? cw.wsUrl : cw.boshUrl
      log(`Causeway pid ${cw.pid} on ${url}${path === 'bosh-causeway' && options.boshPairs < options.pairs ? ` (${options.boshPairs} pairs, --bosh-pairs)` : ''}`)
      await sleep(SETTLE_MS)
      const cold = memory(cw.pid)
      // One session in and out first: code loaded on first use is not a per-session cost.
      const warm = await openSessions(kindOf(path), { url }, users.slice(0, 1), 'warmup', 1)
      await closeSessions(warm.links)
      await sleep(SETTLE_MS)
      const before = memory(cw.pid)
      let withSessions: MemorySample | undefined
      let afterTraffic: MemorySample | undefined
      let afterClose: MemorySample | undefined
      const report = await runPath(path, { url }, pathUsers, options, { causeway: cw.pid, prosody: prosodyPid }, failures, {
        afterLogin: async () => {
          await sleep(SETTLE_MS)
          withSessions = memory(cw.pid)
        },
        afterTraffic: async () => {
          afterTraffic = memory(cw.pid)
        },
        afterClose: async () => {
          await sleep(SETTLE_MS)
          afterClose = memory(cw.pid)
        },
      })
      const metrics = await cw.metrics().catch(() => undefined)
      const crashed = cw.exitStatus()
      if (crashed) failures.push(`Causeway exited during the run (code ${String(crashed.code)}, signal ${String(crashed.signal)})`)
      const status = await cw.stop()
      if (!crashed && status.code !== 0) failures.push(`Causeway did not exit cleanly on SIGTERM (code ${String(status.code)}, signal ${String(status.signal)})`)
      const output = cw.output().trim()
      if (output !== '') log(`Causeway output (warn and above):\n${output.split('\n').slice(-20).join('\n')}`)
      reports.push({
        ...report,
        memory: { cold, before, withSessions, afterTraffic, afterClose },
        causewayCommand: cw.command,
        ...(metrics !== undefined ? { causewayMetrics: metrics } : {}),
      })
      causeway = undefined
    }
    if (options.idleBosh.length > 0) {
      idle = await runIdleBosh({ counts: options.idleBosh, upstreamPort: prosody.c2sPort, prosodyPid, entry: options.causewayEntry, log, failures })
    }
  } catch (error) {
    failures.push(`aborted: ${(error as Error).message}`)
    const exited = causeway?.exitStatus()
    if (exited) failures.push(`Causeway had exited (code ${String(exited.code)}, signal ${String(exited.signal)}):\n${causeway?.output() ?? ''}`)
  } finally {
    await causeway?.stop(5000)
    await prosody.stop()
  }
  printReport(options, reports, idle, prosody, failures)
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
