/** What every scenario gets from the benchmark run. */
import type { BenchOptions, PathName } from './options.js'
import type { Endpoint, User } from './paths.js'

export interface BenchContext {
  readonly options: BenchOptions
  /** The paths that run, in the configured order (rounds rotate it). */
  readonly paths: readonly PathName[]
  readonly endpoints: ReadonlyMap<PathName, Endpoint>
  readonly prosodyPid: number | undefined
  /** Every registered user, u0 … u(N−1). */
  readonly users: readonly User[]
  readonly log: (text: string) => void
  /** Something broken (never "slow"): the benchmark exits 1 if this is not empty. */
  readonly failures: string[]
}

export const sleep = (msec: number) => new Promise<void>((resolve) => setTimeout(resolve, msec))

/** Pause between two paths' turns in a round, so one path's tail (closes, GC) does not land on the next. */
export const GAP_MS = 200
