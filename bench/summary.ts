/**
 * The report: one table in the shape of issue #10 (paths as columns, medians
 * over rounds, ratios and differences to direct TCP), then every round's raw
 * figures. Ratios and differences are taken within each round (the paths of
 * one round ran back to back) and the median of those is shown, so slow
 * drift of the shared machine cancels out.
 */
import type { LoginRound } from './login.js'
import type { MemoryRun } from './memory.js'
import type { PathName } from './options.js'
import { median, PATHS } from './paths.js'
import { count, fixed, markdownTable, mib, ms } from './report.js'
import type { TrafficRound } from './traffic.js'

export interface Results {
  readonly paths: readonly PathName[]
  readonly pairs: number
  readonly window: number
  readonly loginConcurrency: number
  readonly rates: readonly number[]
  readonly memoryCounts: readonly number[]
  readonly login: readonly LoginRound[]
  readonly traffic: readonly TrafficRound[]
  readonly memory: readonly MemoryRun[]
}

type Round = { readonly path: PathName; readonly round: number }

const DASH = '—'
const BASE: PathName = 'tcp'

/** Median over rounds of `value` for one path. */
function med<R extends Round>(rounds: readonly R[], path: PathName, value: (r: R) => number): number {
  return median(rounds.filter((r) => r.path === path).map(value))
}

/** Median over rounds of value(path) ÷ value(direct TCP), paired within each round. */
function ratio<R extends Round>(rounds: readonly R[], path: PathName, value: (r: R) => number): number {
  const base = new Map(rounds.filter((r) => r.path === BASE).map((r) => [r.round, value(r)]))
  return median(rounds.filter((r) => r.path === path && base.has(r.round)).map((r) => value(r) / base.get(r.round)!))
}

/** Median over rounds of value(path) − value(direct TCP), paired within each round. */
function delta<R extends Round>(rounds: readonly R[], path: PathName, value: (r: R) => number): number {
  const base = new Map(rounds.filter((r) => r.path === BASE).map((r) => [r.round, value(r)]))
  return median(rounds.filter((r) => r.path === path && base.has(r.round)).map((r) => value(r) - base.get(r.round)!))
}

const signed = (n: number, fmt: (n: number) => string) => (Number.isFinite(n) ? `${n >= 0 ? '+' : '−'}${fmt(Math.abs(n))}` : '–')
const perUnit = (seconds: number | undefined, units: number) => (seconds === undefined || units <= 0 ? NaN : (seconds / units) * 1e6)

function relayPerStanza(r: TrafficRound): number {
  return perUnit(r.cpu.cpuSeconds.relay, r.result.delivered)
}
function prosodyPerStanza(r: TrafficRound): number {
  return perUnit(r.cpu.cpuSeconds.prosody, r.result.delivered)
}

export function mainTable(results: Results): string {
  const { paths } = results
  const hasBase = paths.includes(BASE)
  const rows: string[][] = []
  const row = (label: string, target: string, cell: (path: PathName) => string) => rows.push([label, ...paths.map(cell), target])
  const relayed = (path: PathName, text: () => string) => (PATHS[path].relayed ? text() : DASH)
  const withRatio = (value: number, path: PathName, r: number, fmt: (n: number) => string) =>
    path === BASE || !hasBase ? fmt(value) : `${fmt(value)} (${fixed(r, 2)}×)`

  const throughput = results.traffic.filter((r) => r.scenario === 'throughput')
  if (throughput.length > 0) {
    const title = `${results.pairs} pairs × ${results.window} in flight`
    row(`Relay CPU per delivered stanza, ${title} (µs)`, '≤ 20', (p) => relayed(p, () => fixed(med(throughput, p, relayPerStanza), 1)))
    row(`Delivered stanzas/s, same run (× direct TCP)`, 'WS ≥ 1.0×, BOSH ≥ 0.95×', (p) =>
      withRatio(med(throughput, p, (r) => r.result.stanzasPerSecond), p, ratio(throughput, p, (r) => r.result.stanzasPerSecond), count),
    )
  }
  for (const rate of results.rates) {
    const rounds = results.traffic.filter((r) => r.scenario === `latency ${rate}`)
    if (rounds.length === 0) continue
    row(`Relay CPU at ${count(rate)} msg/s open loop (% of a core)`, rate === 2000 ? '< 10 %' : '', (p) =>
      relayed(p, () => `${fixed(med(rounds, p, (r) => r.cpu.percent.relay ?? NaN), 1)} %`),
    )
  }
  for (const rate of results.rates) {
    const rounds = results.traffic.filter((r) => r.scenario === `latency ${rate}`)
    if (rounds.length === 0) continue
    row(`Latency p50 / p99 at ${count(rate)} msg/s (ms; ± direct TCP)`, rate === 500 ? 'p50 ≤ TCP + 1, p99 ≤ TCP + 2' : '', (p) => {
      const p50 = med(rounds, p, (r) => r.result.latencyMs.p50)
      const p99 = med(rounds, p, (r) => r.result.latencyMs.p99)
      const text = `${ms(p50)} / ${ms(p99)}`
      if (p === BASE || !hasBase) return text
      return `${text} (${signed(delta(rounds, p, (r) => r.result.latencyMs.p50), ms)} / ${signed(delta(rounds, p, (r) => r.result.latencyMs.p99), ms)})`
    })
  }
  if (results.login.length > 0) {
    row(`Logins/s at ${results.loginConcurrency} in flight (× direct TCP)`, '≥ 0.9×', (p) =>
      withRatio(med(results.login, p, (r) => r.perSecond), p, ratio(results.login, p, (r) => r.perSecond), count),
    )
    row('Relay CPU per login (µs)', '≤ 300', (p) => relayed(p, () => fixed(med(results.login, p, (r) => perUnit(r.cpu.cpuSeconds.relay, r.logins)), 0)))
  }
  if (results.memory.length > 0) {
    const counts = results.memoryCounts
    const memoryCell = (p: PathName, value: (run: MemoryRun) => number, fmt: (n: number) => string) => {
      const runs = results.memory.filter((m) => m.path === p)
      if (runs.length === 0) return DASH
      return counts
        .map((n) => {
          const run = runs.find((m) => m.asked === n)
          return run ? `${fmt(value(run))}${run.sessions !== run.asked ? ` (at ${count(run.sessions)})` : ''}` : '–'
        })
        .join(' / ')
    }
    row(`RSS growth per idle logged-in session, N = ${counts.map(count).join(' / ')} (KiB)`, 'WS ≤ 12, BOSH ≤ 16 (held request)', (p) =>
      memoryCell(p, (m) => m.perSessionKiB, (n) => fixed(n, 1)),
    )
    row('Fixed RSS at start (MiB)', '≤ 50', (p) => {
      const runs = results.memory.filter((m) => m.path === p)
      return runs.length === 0 ? DASH : fixed(median(runs.map((m) => m.startKiB)) / 1024, 1)
    })
  }

  // Context: where the rest of the machine's time went.
  const extra: string[][] = []
  const extraRow = (label: string, cell: (path: PathName) => string) => extra.push([label, ...paths.map(cell), ''])
  if (throughput.length > 0) {
    extraRow('Prosody CPU per delivered stanza, throughput (µs)', (p) => fixed(med(throughput, p, prosodyPerStanza), 1))
    extraRow('Relay / Prosody / load generator CPU, throughput (% of a core)', (p) =>
      [PATHS[p].relayed ? fixed(med(throughput, p, (r) => r.cpu.percent.relay ?? NaN), 0) : DASH, fixed(med(throughput, p, (r) => r.cpu.percent.prosody ?? NaN), 0), fixed(med(throughput, p, (r) => r.cpu.percent['load generator'] ?? NaN), 0)].join(' / '),
    )
    extraRow('Other busy CPU / steal, throughput (% of a core)', (p) =>
      `${fixed(med(throughput, p, (r) => r.cpu.unattributedPercent), 0)} / ${fixed(med(throughput, p, (r) => r.cpu.stealPercent), 0)}`,
    )
  }
  for (const rate of results.rates) {
    const rounds = results.traffic.filter((r) => r.scenario === `latency ${rate}`)
    if (rounds.length === 0) continue
    extraRow(`Relay CPU per stanza at ${count(rate)} msg/s (µs)`, (p) => relayed(p, () => fixed(med(rounds, p, relayPerStanza), 0)))
    extraRow(`Latency max at ${count(rate)} msg/s (ms, worst round) / load generator send lag p99 (ms)`, (p) => {
      const mine = rounds.filter((r) => r.path === p)
      return mine.length === 0 ? '–' : `${ms(Math.max(...mine.map((r) => r.result.latencyMs.max)))} / ${ms(median(mine.map((r) => r.result.sendLagMs?.p99 ?? NaN)))}`
    })
  }
  if (results.login.length > 0) {
    extraRow('Prosody CPU per login (µs)', (p) => fixed(med(results.login, p, (r) => perUnit(r.cpu.cpuSeconds.prosody, r.logins)), 0))
    extraRow('Login time p50 / p99 (ms)', (p) => `${ms(med(results.login, p, (r) => r.loginMs.p50))} / ${ms(med(results.login, p, (r) => r.loginMs.p99))}`)
  }
  if (results.memory.length > 0) {
    extraRow(`Prosody RSS growth per upstream c2s session, N = ${results.memoryCounts.map(count).join(' / ')} (KiB; Prosody restarted before each)`, (p) => {
      const runs = results.memory.filter((m) => m.path === p)
      return runs.length === 0 ? DASH : results.memoryCounts.map((n) => fixed(runs.find((m) => m.asked === n)?.prosodyPerSessionKiB, 1)).join(' / ')
    })
  }
  const header = ['', ...paths.map((p) => PATHS[p].label), 'issue #10 target']
  return markdownTable(header, [...rows, ...extra])
}

export function rawTables(results: Results): string {
  const out: string[] = []
  if (results.login.length > 0) {
    out.push('', '### Login rounds', '')
    out.push(
      markdownTable(
        ['path', 'round', 'pos', 'logins', 'seconds', 'logins/s', 'login p50 ms', 'login p99 ms', 'relay µs/login', 'Prosody µs/login', 'load gen %', 'other %', 'steal %'],
        results.login.map((r) => [
          r.path,
          String(r.round),
          String(r.position),
          count(r.logins),
          fixed(r.seconds, 2),
          count(r.perSecond),
          ms(r.loginMs.p50),
          ms(r.loginMs.p99),
          PATHS[r.path].relayed ? fixed(perUnit(r.cpu.cpuSeconds.relay, r.logins), 0) : DASH,
          fixed(perUnit(r.cpu.cpuSeconds.prosody, r.logins), 0),
          fixed(r.cpu.percent['load generator'], 0),
          fixed(r.cpu.unattributedPercent, 0),
          fixed(r.cpu.stealPercent, 0),
        ]),
      ),
    )
  }
  const scenarios = [...new Set(results.traffic.map((r) => r.scenario))]
  for (const scenario of scenarios) {
    const rounds = results.traffic.filter((r) => r.scenario === scenario)
    const open = scenario.startsWith('latency')
    out.push('', `### ${scenario === 'throughput' ? `Throughput rounds (closed loop, ${results.window} in flight per sender)` : `Latency rounds, ${scenario.slice(8)} msg/s (open loop)`}`, '')
    out.push(
      markdownTable(
        [
          'path', 'round', 'pos', 'delivered', 'stanzas/s', 'p50 ms', 'p99 ms', 'max ms',
          'relay µs/st', 'relay %', 'Prosody µs/st', 'Prosody %', 'load gen %', 'other %', 'steal %',
          ...(open ? ['send lag p99 ms'] : []),
        ],
        rounds.map((r) => [
          r.path,
          String(r.round),
          String(r.position),
          count(r.result.delivered),
          count(r.result.stanzasPerSecond),
          ms(r.result.latencyMs.p50),
          ms(r.result.latencyMs.p99),
          ms(r.result.latencyMs.max),
          PATHS[r.path].relayed ? fixed(relayPerStanza(r), 1) : DASH,
          PATHS[r.path].relayed ? fixed(r.cpu.percent.relay, 0) : DASH,
          fixed(prosodyPerStanza(r), 0),
          fixed(r.cpu.percent.prosody, 0),
          fixed(r.cpu.percent['load generator'], 0),
          fixed(r.cpu.unattributedPercent, 0),
          fixed(r.cpu.stealPercent, 0),
          ...(open ? [ms(r.result.sendLagMs?.p99)] : []),
        ]),
      ),
    )
  }
  if (results.memory.length > 0) {
    out.push('', '### Idle memory (a fresh Causeway process per row; RSS from /proc/PID/status, medians of samples)', '')
    out.push(
      markdownTable(
        ['path', 'N', 'RSS at start', 'after 1 session', 'with N', 'per session', 'peak (VmHWM)', 'V8 heap used', 'held requests', 'Prosody per session', 'login s', 'SIGTERM → exit s'],
        results.memory.map((m) => [
          m.path,
          count(m.sessions),
          mib(m.startKiB),
          mib(m.baselineKiB),
          mib(m.withKiB),
          `${fixed(m.perSessionKiB, 1)} KiB`,
          mib(m.peakKiB),
          mib(m.heapUsedBytes === undefined ? undefined : m.heapUsedBytes / 1024),
          m.heldByMetric === undefined ? DASH : count(m.heldByMetric),
          `${fixed(m.prosodyPerSessionKiB, 1)} KiB`,
          fixed(m.loginSeconds, 1),
          fixed(m.stopSeconds, 1),
        ]),
      ),
    )
  }
  return out.join('\n')
}
