/**
 * Logins: each round, each path logs in `logins` sessions with
 * `loginConcurrency` in flight (connect, stream, SASL PLAIN, stream restart,
 * resource binding: the same steps on every path, no presence), then closes
 * them (not measured). Logins/s is logins ÷ (first connect → last bind
 * result); relay CPU per login is the Causeway process's CPU over the same
 * window ÷ logins.
 */
import type { BenchContext } from './context.js'
import { GAP_MS, sleep } from './context.js'
import { summarise } from './exchange.js'
import type { LatencySummary } from './exchange.js'
import type { PathName } from './options.js'
import { closeSessions, openSessions, PATHS, rotate } from './paths.js'
import { CpuMeter } from './procstat.js'
import type { CpuUsage } from './procstat.js'
import { fixed } from './report.js'

const WARM_UP_LOGINS = 50

export interface LoginRound {
  readonly path: PathName
  readonly round: number
  /** Place in this round's order, from 1. */
  readonly position: number
  readonly logins: number
  readonly seconds: number
  readonly perSecond: number
  readonly cpu: CpuUsage
  readonly loginMs: LatencySummary
  readonly uncleanCloses: number
}

/** Users `firstUser` … `firstUser + logins − 1` log in on every path, with a resource per round and path. */
export async function runLoginRounds(ctx: BenchContext, firstUser: number): Promise<LoginRound[]> {
  const { options, log, failures } = ctx
  const users = ctx.users.slice(firstUser, firstUser + options.logins)
  const rounds: LoginRound[] = []
  const broken = new Set<PathName>()
  // Warm-up, not reported: the first logins on a path pay for code loaded and compiled on first use.
  for (const path of ctx.paths) {
    try {
      const warm = await openSessions(ctx.endpoints.get(path)!, users.slice(0, WARM_UP_LOGINS), `l0-${path}`, { concurrency: options.loginConcurrency, presence: false })
      await closeSessions(warm.links)
    } catch (error) {
      broken.add(path)
      failures.push(`login ${PATHS[path].label} warm-up: ${(error as Error).message}`)
    }
  }
  for (let round = 1; round <= options.rounds; round++) {
    const order = rotate(ctx.paths, round - 1).filter((p) => !broken.has(p))
    for (const [i, path] of order.entries()) {
      const endpoint = ctx.endpoints.get(path)!
      const meter = new CpuMeter({ relay: endpoint.relayPid, prosody: ctx.prosodyPid })
      let opened
      try {
        opened = await openSessions(endpoint, users, `l${round}-${path}`, { concurrency: options.loginConcurrency, presence: false })
      } catch (error) {
        meter.stop()
        broken.add(path)
        failures.push(`login ${PATHS[path].label} round ${round}: ${(error as Error).message}`)
        log(`login ${path} round ${round}: BROKEN — ${(error as Error).message}`)
        await sleep(GAP_MS)
        continue
      }
      const cpu = meter.stop()
      const uncleanCloses = await closeSessions(opened.links)
      if (uncleanCloses > 0) failures.push(`login ${PATHS[path].label} round ${round}: ${uncleanCloses} of ${users.length} sessions did not close cleanly`)
      const result: LoginRound = {
        path,
        round,
        position: i + 1,
        logins: users.length,
        seconds: opened.seconds,
        perSecond: users.length / opened.seconds,
        cpu,
        loginMs: summarise(opened.loginMs),
        uncleanCloses,
      }
      rounds.push(result)
      const relay = cpu.cpuSeconds.relay
      log(
        `login ${path.padEnd(12)} round ${round}: ${users.length} in ${fixed(opened.seconds, 2)} s = ${fixed(result.perSecond, 0)}/s` +
          (relay !== undefined ? `, relay ${fixed((relay / users.length) * 1e6, 0)} µs/login` : '') +
          `, Prosody ${fixed(((cpu.cpuSeconds.prosody ?? NaN) / users.length) * 1e6, 0)} µs/login`,
      )
      await sleep(GAP_MS)
    }
  }
  return rounds
}
