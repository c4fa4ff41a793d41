/**
 * Throughput and latency rounds on long-lived sessions: every path gets its
 * own 2 × pairs logged-in sessions (its own users), kept open for all the
 * traffic rounds. A round runs one exchange (bench/exchange.ts) on one
 * path; the relay's, Prosody's and the load generator's CPU are taken over
 * the exchange's measured window (first send → last delivery).
 */
import type { BenchContext } from './context.js'
import { GAP_MS, sleep } from './context.js'
import { runExchange } from './exchange.js'
import type { ExchangeResult, Load } from './exchange.js'
import type { PathName } from './options.js'
import { closeSessions, openSessions, PATHS, rotate } from './paths.js'
import { CpuMeter } from './procstat.js'
import type { CpuUsage } from './procstat.js'
import { count, fixed, ms } from './report.js'
import type { XmppLink } from './xmpp-link.js'

const GRACE_MS = 200
const WARM_UP_MS = 1000

export interface TrafficRound {
  /** 'throughput' or 'latency R' (R messages/s). */
  readonly scenario: string
  readonly path: PathName
  readonly round: number
  readonly position: number
  readonly result: ExchangeResult
  readonly cpu: CpuUsage
}

export interface TrafficSessions {
  readonly links: Map<PathName, XmppLink[]>
  /** Paths whose sessions broke: no further rounds for them. */
  readonly broken: Set<PathName>
}

/** Path i uses users i × 2 × pairs … (i + 1) × 2 × pairs − 1, resource = the path's name. */
export async function openTrafficSessions(ctx: BenchContext): Promise<TrafficSessions> {
  const { options, log, failures } = ctx
  const perPath = options.pairs * 2
  const sessions: TrafficSessions = { links: new Map(), broken: new Set() }
  for (const [i, path] of ctx.paths.entries()) {
    const users = ctx.users.slice(i * perPath, (i + 1) * perPath)
    try {
      const opened = await openSessions(ctx.endpoints.get(path)!, users, path, { concurrency: options.loginConcurrency, presence: true })
      sessions.links.set(path, opened.links)
      log(`traffic: ${perPath} sessions on ${path} in ${fixed(opened.seconds, 2)} s`)
    } catch (error) {
      sessions.broken.add(path)
      failures.push(`traffic sessions on ${PATHS[path].label}: ${(error as Error).message}`)
    }
  }
  // Warm-up: the code paths, buffers and caches of every process, not reported.
  for (const path of ctx.paths) {
    const links = sessions.links.get(path)
    if (!links || sessions.broken.has(path)) continue
    const result = await runExchange(links, {
      tag: `warm-${path}`,
      bodyBytes: options.size,
      load: { kind: 'closed', window: options.window, sendMs: WARM_UP_MS },
      stallMs: options.stallMs,
      graceMs: GRACE_MS,
    })
    check(ctx, sessions, path, 'warm-up', result)
  }
  return sessions
}

export async function closeTrafficSessions(ctx: BenchContext, sessions: TrafficSessions): Promise<void> {
  for (const [path, links] of sessions.links) {
    const unclean = await closeSessions(links)
    if (unclean > 0 && !sessions.broken.has(path)) {
      ctx.failures.push(`traffic sessions on ${PATHS[path].label}: ${unclean} of ${links.length} did not close cleanly (both sides' stream close)`)
    }
  }
  sessions.links.clear()
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
  if (result.sent === 0) out.push('nothing sent')
  return out
}

function check(ctx: BenchContext, sessions: TrafficSessions, path: PathName, what: string, result: ExchangeResult): boolean {
  const bad = problems(result)
  if (bad.length === 0) return true
  ctx.failures.push(`${PATHS[path].label} ${what}: ${bad.join(', ')}${result.samples.length > 0 ? `\n      ${result.samples.join('\n      ')}` : ''}`)
  ctx.log(`${path} ${what}: BROKEN — ${bad.join(', ')}`)
  if (result.connectionErrors.length > 0 || result.stalled) sessions.broken.add(path)
  return false
}

/** `rounds` rounds of one load on every path that still works, the path order rotating each round. */
export async function runTrafficRounds(ctx: BenchContext, sessions: TrafficSessions, scenario: string, load: Load): Promise<TrafficRound[]> {
  const out: TrafficRound[] = []
  for (let round = 1; round <= ctx.options.rounds; round++) {
    const order = rotate(ctx.paths, round - 1).filter((p) => sessions.links.has(p) && !sessions.broken.has(p))
    for (const [i, path] of order.entries()) {
      const endpoint = ctx.endpoints.get(path)!
      let meter: CpuMeter | undefined
      let cpu: CpuUsage | undefined
      const result = await runExchange(sessions.links.get(path)!, {
        tag: `${scenario.replace(/ /g, '')}-${round}-${path}`,
        bodyBytes: ctx.options.size,
        load,
        stallMs: ctx.options.stallMs,
        graceMs: GRACE_MS,
        measure: {
          start: () => (meter = new CpuMeter({ relay: endpoint.relayPid, prosody: ctx.prosodyPid })),
          stop: () => (cpu = meter?.stop()),
        },
      })
      if (!cpu) continue // nothing ran: the sessions had already ended (reported by check)
      const ok = check(ctx, sessions, path, `${scenario} round ${round}`, result)
      if (ok) out.push({ scenario, path, round, position: i + 1, result, cpu })
      const relay = cpu.cpuSeconds.relay
      ctx.log(
        `${scenario} ${path.padEnd(12)} round ${round}: ${count(result.delivered)} in ${fixed(result.durationMs / 1000, 2)} s = ${count(result.stanzasPerSecond)}/s, ` +
          `p50 ${ms(result.latencyMs.p50)} p99 ${ms(result.latencyMs.p99)} ms` +
          (relay !== undefined ? `, relay ${fixed((relay / result.delivered) * 1e6, 1)} µs/stanza (${fixed(cpu.percent.relay, 0)} % of a core)` : '') +
          `, Prosody ${fixed(((cpu.cpuSeconds.prosody ?? NaN) / result.delivered) * 1e6, 0)} µs/stanza`,
      )
      await sleep(GAP_MS)
    }
  }
  return out
}
