/**
 * Idle memory: for each transport and each N, a FRESH Causeway process:
 *
 * 1. start it, let it settle, sample RSS: the fixed RSS at start;
 * 2. one session in and out (code loaded on first use is not a per-session
 *    cost), sample again: the baseline;
 * 3. log in N sessions (WebSocket: logged in and idle; BOSH: logged in, one
 *    empty request held, re-issued when it returns, and no other connection
 *    kept open), let them settle, take the median of a few RSS samples:
 *    growth per session = (with sessions − baseline) / N;
 * 4. SIGTERM with the sessions open: it must exit 0.
 *
 * Prosody is restarted before each measurement, so its own growth per
 * upstream c2s session (reported as context) is a fresh process's too.
 *
 * RSS includes garbage V8 has not collected yet; nothing here can force a
 * collection from outside, hence the settle time and the median.
 *
 * File descriptors bound N: Causeway needs two per session (client and
 * upstream connection), the load generator and Prosody one each. A larger N
 * than fits is measured at the largest N that does, and the report says so.
 */
import { performance } from 'node:perf_hooks'
import { metricValue, startCausewayProcess } from './causeway-process.js'
import type { CausewayProcess } from './causeway-process.js'
import type { BenchContext } from './context.js'
import { sleep } from './context.js'
import { closeSessions, median, openSessions, PATHS } from './paths.js'
import type { Endpoint } from './paths.js'
import { fdLimit, fdsOpen, memory } from './procstat.js'
import { count, fixed, mib } from './report.js'
import type { XmppLink } from './xmpp-link.js'

/** Waits and RSS samples: settle after start; settle after the sessions, then `samples` samples `sampleEveryMs` apart. */
// settleMs: idle sessions are measured idle; V8's memory reducer collects (and shrinks the young
// generation grown by the login burst) about 8 s after the process goes quiet.
const TIMING = { startSettleMs: 2000, settleMs: 10_000, samples: 5, sampleEveryMs: 1000 }
const QUICK_TIMING = { startSettleMs: 1000, settleMs: 2000, samples: 3, sampleEveryMs: 500 }
/** Descriptors kept free in each process for everything that is not a session. */
const FD_MARGIN = 300
/** BOSH `wait` for the idle sessions, seconds: each held request comes back (and is re-issued) this often. */
const IDLE_WAIT_SECONDS = 60

export type MemoryPath = 'cw-ws' | 'cw-bosh'

export interface MemoryRun {
  readonly path: MemoryPath
  /** Sessions asked for. */
  readonly asked: number
  /** Sessions measured (fewer when the descriptors do not fit). */
  readonly sessions: number
  readonly startKiB: number
  readonly baselineKiB: number
  readonly withKiB: number
  readonly peakKiB: number
  readonly perSessionKiB: number
  readonly prosodyPerSessionKiB: number
  readonly loginSeconds: number
  /** V8 heap used with the sessions (Causeway's /metrics), bytes. */
  readonly heapUsedBytes: number | undefined
  readonly openByMetric: number | undefined
  readonly heldByMetric: number | undefined
  readonly stopSeconds: number
  readonly command: string
}

async function rssMedian(pid: number, samples: number, everyMs: number): Promise<{ rssKiB: number; peakKiB: number }> {
  const values: number[] = []
  let peak = NaN
  for (let i = 0; i < samples; i++) {
    if (i > 0) await sleep(everyMs)
    const m = memory(pid)
    values.push(m?.rssKiB ?? NaN)
    peak = m?.peakKiB ?? peak
  }
  return { rssKiB: median(values), peakKiB: peak }
}

export interface MemoryOptions {
  /** Causeway's entry point (undefined: src/ under tsx). */
  readonly entry: string | undefined
  readonly upstreamPort: number
  /** Restart Prosody (same ports and data) and return its new pid: each measurement gets a fresh one too. */
  readonly restartProsody: () => Promise<number | undefined>
  readonly notes: string[]
}

/** Memory runs for both Causeway transports (those among the benchmark's paths), each N in its own process. */
export async function runMemory(ctx: BenchContext, options: MemoryOptions): Promise<MemoryRun[]> {
  const runs: MemoryRun[] = []
  const paths = ctx.paths.filter((p): p is MemoryPath => p === 'cw-ws' || p === 'cw-bosh')
  for (const n of ctx.options.memory) {
    for (const path of paths) {
      const run = await measureOne(ctx, options, path, n)
      if (run) runs.push(run)
    }
  }
  return runs
}

async function measureOne(ctx: BenchContext, options: MemoryOptions, path: MemoryPath, asked: number): Promise<MemoryRun | undefined> {
  const { log, failures } = ctx
  const label = `memory ${path} N=${count(asked)}`
  // A fresh Prosody as well, so its growth per upstream session is not hidden by memory freed earlier.
  const prosodyPid = await options.restartProsody()
  // Descriptors: Causeway 2 per session, the load generator and Prosody 1 each.
  const budget = (pid: number | 'self', limit: number, perSession: number) => Math.floor((limit - fdsOpen(pid) - FD_MARGIN) / perSession)
  const causewayLimit = fdLimit('self') // a child inherits the load generator's limit
  const fits = Math.min(
    Math.floor((causewayLimit - 64 - FD_MARGIN) / 2),
    budget('self', fdLimit('self'), 1),
    prosodyPid !== undefined ? budget(prosodyPid, fdLimit(prosodyPid), 1) : Infinity,
  )
  const n = Number.isFinite(fits) ? Math.min(asked, fits) : asked
  if (n < asked) {
    const note = `${label}: measured at N=${count(n)}, the most that fits the open-file limits (Causeway ${causewayLimit}, 2 per session; load generator ${fdLimit('self')}; Prosody ${prosodyPid !== undefined ? fdLimit(prosodyPid) : '?'}; ${FD_MARGIN} kept free in each)`
    options.notes.push(note)
    log(note)
  }
  if (ctx.users.length < n) {
    failures.push(`${label}: only ${ctx.users.length} users registered`)
    return undefined
  }

  let causeway: CausewayProcess | undefined
  let links: XmppLink[] = []
  try {
    causeway = await startCausewayProcess({ upstreamPort: options.upstreamPort, sessions: n + 16, entry: options.entry })
    const cw = causeway
    const endpoint: Endpoint = { path, kind: PATHS[path].kind, url: path === 'cw-ws' ? cw.wsUrl : cw.boshUrl, relayPid: cw.pid }
    const login = {
      concurrency: ctx.options.loginConcurrency,
      presence: true,
      boshWaitSeconds: IDLE_WAIT_SECONDS,
      // BOSH: once the presence echo is back, only the held request's connection stays open; otherwise the
      // second keep-alive connection of every session would take a third descriptor in Causeway.
      onLogin: (link: XmppLink) => void setTimeout(() => link.trimIdleConnections(), 1000),
    }
    const timing = ctx.options.quick ? QUICK_TIMING : TIMING
    await sleep(timing.startSettleMs)
    const start = await rssMedian(cw.pid, 3, 300)
    const warm = await openSessions(endpoint, ctx.users.slice(0, 1), 'warm-up', login)
    await closeSessions(warm.links)
    await sleep(1000)
    const baseline = await rssMedian(cw.pid, 3, 300)
    const prosodyBefore = prosodyPid !== undefined ? await rssMedian(prosodyPid, 3, 300) : undefined
    log(`${label}: Causeway pid ${cw.pid}, RSS at start ${mib(start.rssKiB)}, after one session in and out ${mib(baseline.rssKiB)}; logging in ${count(n)}`)

    const opened = await openSessions(endpoint, ctx.users.slice(0, n), 'idle', login)
    links = opened.links
    await sleep(1000)
    // BOSH: the presence echo's request has come back by now; only the held request's connection stays.
    for (const link of links) link.trimIdleConnections()
    await sleep(timing.settleMs)
    const withSessions = await rssMedian(cw.pid, timing.samples, timing.sampleEveryMs)
    const prosodyWith = prosodyPid !== undefined ? await rssMedian(prosodyPid, 3, 300) : undefined
    const metrics = await cw.metrics().catch(() => '')
    const transport = path === 'cw-ws' ? 'websocket' : 'bosh'
    const open = metricValue(metrics, `causeway_sessions_open{transport="${transport}"}`)
    const held = path === 'cw-bosh' ? metricValue(metrics, 'causeway_bosh_held_requests') : undefined
    const ended = links.filter((link) => link.ended).length
    if (ended > 0) failures.push(`${label}: ${ended} of ${n} idle sessions ended while idle`)
    if (open !== undefined && open !== n) failures.push(`${label}: Causeway reports ${open} open sessions, expected ${n}`)
    const perSessionKiB = (withSessions.rssKiB - baseline.rssKiB) / n
    const prosodyPerSessionKiB = prosodyWith && prosodyBefore ? (prosodyWith.rssKiB - prosodyBefore.rssKiB) / n : NaN
    log(
      `${label}: ${count(n)} logged in in ${fixed(opened.seconds, 1)} s; RSS ${mib(withSessions.rssKiB)} → ${fixed(perSessionKiB, 1)} KiB per session` +
        `${held !== undefined ? `, ${count(held)} requests held` : ''}; Prosody +${fixed(prosodyPerSessionKiB, 1)} KiB per c2s session`,
    )

    // An operator's stop, with every session open: Causeway must end them and exit 0.
    const stopping = performance.now()
    const crashed = cw.exitStatus()
    if (crashed) failures.push(`${label}: Causeway exited (code ${String(crashed.code)}, signal ${String(crashed.signal)})`)
    const status = await cw.stop(30_000)
    const stopSeconds = (performance.now() - stopping) / 1000
    if (!crashed && status.code !== 0) failures.push(`${label}: Causeway did not exit 0 on SIGTERM (code ${String(status.code)}, signal ${String(status.signal)})`)
    const output = cw.output().trim()
    if (output !== '') log(`${label}: Causeway output (warn and above):\n${output.split('\n').slice(-10).join('\n')}`)
    causeway = undefined
    return {
      path,
      asked,
      sessions: n,
      startKiB: start.rssKiB,
      baselineKiB: baseline.rssKiB,
      withKiB: withSessions.rssKiB,
      peakKiB: withSessions.peakKiB,
      perSessionKiB,
      prosodyPerSessionKiB,
      loginSeconds: opened.seconds,
      heapUsedBytes: metricValue(metrics, 'nodejs_heap_size_used_bytes'),
      openByMetric: open,
      heldByMetric: held,
      stopSeconds,
      command: cw.command,
    }
  } catch (error) {
    failures.push(`${label}: ${(error as Error).message}`)
    const exited = causeway?.exitStatus()
    if (exited) failures.push(`${label}: Causeway had exited (code ${String(exited.code)}, signal ${String(exited.signal)})`)
    const output = causeway?.output().trim() ?? ''
    if (output !== '') failures.push(`${label}: Causeway's last output:\n${output.split('\n').slice(-10).join('\n')}`)
    return undefined
  } finally {
    for (const link of links) link.destroy()
    await causeway?.stop(5000)
  }
}
