/**
 * Benchmark settings: defaults, then BENCH_* environment variables, then
 * command-line flags (`npm run bench -- --rounds 6`). Bad values are errors.
 */

export type PathName = 'tcp' | 'tcp-pipe' | 'cw-ws' | 'cw-bosh' | 'prosody-ws' | 'prosody-bosh'
export const ALL_PATHS: readonly PathName[] = ['cw-ws', 'cw-bosh', 'prosody-ws', 'prosody-bosh', 'tcp-pipe', 'tcp']

export type ScenarioName = 'login' | 'throughput' | 'latency' | 'memory'
export const ALL_SCENARIOS: readonly ScenarioName[] = ['login', 'throughput', 'latency', 'memory']

export interface BenchOptions {
  readonly quick: boolean
  /** Rounds of each timed scenario; every round runs each path once, in a rotated order. */
  readonly rounds: number
  /** Pairs of logged-in sessions per path for throughput and latency (2 × pairs sessions per path). */
  readonly pairs: number
  /** Throughput: messages in flight (sent, not yet received) per sending session. */
  readonly window: number
  /** Throughput: how long each round keeps sending, ms. */
  readonly throughputMs: number
  /** Message body bytes (ASCII; the sequence/timestamp header counts towards it). */
  readonly size: number
  /** Latency: aggregate open-loop rates, messages/s, each its own set of rounds. */
  readonly rates: readonly number[]
  /** Latency: how long each round sends, ms. */
  readonly latencyMs: number
  /** Logins per path and round. */
  readonly logins: number
  /** Logins in flight at once. */
  readonly loginConcurrency: number
  /** Idle memory: session counts, each measured in a fresh Causeway process per transport. */
  readonly memory: readonly number[]
  readonly paths: readonly PathName[]
  readonly scenarios: readonly ScenarioName[]
  /** Write a .cpuprofile of each traffic relay process and print the top self-time functions. */
  readonly profile: boolean
  /** Where the .cpuprofile files go (default: a new directory under the OS temp dir). */
  readonly profileDir: string | undefined
  /** Run Causeway from src/ under tsx instead of the build in dist/. */
  readonly tsx: boolean
  /** Do not build dist/ even if it is missing or older than src/ (then it must exist). */
  readonly noBuild: boolean
  /** Nothing sent or delivered for this long ends a round (the rest counts as lost). */
  readonly stallMs: number
  /** Whole benchmark bound; reaching it is a failure (something hung). */
  readonly timeoutSeconds: number
}

type NumberKey = 'rounds' | 'pairs' | 'window' | 'throughputMs' | 'size' | 'latencyMs' | 'logins' | 'loginConcurrency' | 'stallMs' | 'timeoutSeconds'

interface NumberSpec {
  readonly key: NumberKey
  readonly flag: string
  readonly min: number
  readonly max: number
  readonly normal: number
  readonly quick: number
  readonly help: string
}

const NUMBERS: readonly NumberSpec[] = [
  { key: 'rounds', flag: '--rounds', min: 1, max: 100, normal: 4, quick: 2, help: 'rounds per scenario (paths rotate each round; medians reported)' },
  { key: 'pairs', flag: '--pairs', min: 1, max: 1000, normal: 50, quick: 10, help: 'pairs of sessions per path for throughput and latency' },
  { key: 'window', flag: '--window', min: 1, max: 1000, normal: 10, quick: 10, help: 'throughput: messages in flight per sending session' },
  { key: 'throughputMs', flag: '--throughput-ms', min: 200, max: 600_000, normal: 3000, quick: 1000, help: 'throughput: sending time per round, ms' },
  { key: 'size', flag: '--size', min: 0, max: 60_000, normal: 100, quick: 100, help: 'message body bytes' },
  { key: 'latencyMs', flag: '--latency-ms', min: 200, max: 600_000, normal: 3000, quick: 1000, help: 'latency: sending time per round and rate, ms' },
  { key: 'logins', flag: '--logins', min: 1, max: 10_000, normal: 200, quick: 60, help: 'login: logins per path and round' },
  { key: 'loginConcurrency', flag: '--login-concurrency', min: 1, max: 1000, normal: 50, quick: 50, help: 'logins in flight at once' },
  { key: 'stallMs', flag: '--stall-ms', min: 1000, max: 600_000, normal: 15_000, quick: 10_000, help: 'no progress for this long ends a round' },
  { key: 'timeoutSeconds', flag: '--timeout-seconds', min: 10, max: 86_400, normal: 1800, quick: 300, help: 'bound on the whole benchmark' },
]

interface ListSpec {
  readonly flag: string
  readonly normal: string
  readonly quick: string
  readonly help: string
}

const LISTS = {
  rates: { flag: '--rates', normal: '500,2000', quick: '500,2000', help: 'latency: open-loop rates, messages/s' },
  memory: { flag: '--memory', normal: '1000,9000', quick: '200', help: 'idle memory: sessions per fresh Causeway process, or "none"' },
  paths: { flag: '--paths', normal: ALL_PATHS.join(','), quick: ALL_PATHS.join(','), help: `paths, from ${ALL_PATHS.join(', ')}` },
  scenarios: { flag: '--scenarios', normal: ALL_SCENARIOS.join(','), quick: ALL_SCENARIOS.join(','), help: `scenarios, from ${ALL_SCENARIOS.join(', ')}` },
} satisfies Record<string, ListSpec>

const SWITCHES = {
  '--quick': 'a smoke run of about two minutes (fewer rounds, sessions and logins, shorter rounds; memory at 200, shorter settling)',
  '--profile': 'write a .cpuprofile of the two traffic relay processes and print their top self-time functions',
  '--tsx': 'run Causeway from src/ under tsx (default: node dist/bin/causeway.js, built first if stale)',
  '--no-build': 'never build dist/ (it must exist)',
} as const

/** BENCH_ROUNDS for --rounds, BENCH_PROFILE_DIR for --profile-dir, BENCH_QUICK=1 for --quick. */
function envName(flag: string): string {
  return `BENCH_${flag.slice(2).replace(/-/g, '_').toUpperCase()}`
}

export const USAGE = `Usage: npm run bench -- [flags]   (or the BENCH_* environment variables; flags win)

${Object.entries(SWITCHES)
  .map(([flag, help]) => `  ${flag.padEnd(24)}(${envName(flag)}=1) ${help}`)
  .join('\n')}
  ${'--profile-dir DIR'.padEnd(24)}(BENCH_PROFILE_DIR) where --profile writes (default: a new dir under ${'$'}TMPDIR)
${NUMBERS.map((s) => `  ${`${s.flag} N`.padEnd(24)}(${envName(s.flag)}) ${s.help}; default ${s.normal}, quick ${s.quick}`).join('\n')}
${Object.values(LISTS)
  .map((s) => `  ${`${s.flag} A,B`.padEnd(24)}(${envName(s.flag)}) ${s.help}; default ${s.normal}${s.quick !== s.normal ? `, quick ${s.quick}` : ''}`)
  .join('\n')}
  --help

Paths: tcp = straight to Prosody's c2s port; cw-ws / cw-bosh = through Causeway (its own process) to Prosody;
prosody-ws / prosody-bosh = Prosody's own mod_websocket / mod_bosh. Exit status 1 only when something is broken
(a message lost, duplicated, reordered or damaged, a failed login, a crash, a hang); never for being slow.
`

export class UsageError extends Error {}

function truthy(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes)$/i.test(value)
}

function parseList<T extends string>(flag: string, raw: string, allowed: readonly T[]): T[] {
  const items = raw.split(',').map((p) => p.trim())
  if (items.length === 0 || items.some((p) => !(allowed as readonly string[]).includes(p))) {
    throw new UsageError(`${flag}: a comma-separated list of ${allowed.join(', ')} (got ${JSON.stringify(raw)})`)
  }
  return [...new Set(items)] as T[]
}

function parseCounts(flag: string, raw: string, min: number, max: number, allowNone: boolean): number[] {
  if (allowNone && /^\s*(none|0)?\s*$/.test(raw)) return []
  const values = raw.split(',').map((n) => Number(n.trim().replace(/_/g, '')))
  if (values.length === 0 || values.some((n) => !Number.isInteger(n) || n < min || n > max)) {
    throw new UsageError(`${flag}: comma-separated integers from ${min} to ${max}${allowNone ? ', or none' : ''} (got ${JSON.stringify(raw)})`)
  }
  return [...new Set(values)].sort((a, b) => a - b)
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions | 'help' {
  const flags = new Map<string, string>()
  const switches = new Set<string>(Object.keys(SWITCHES).filter((flag) => truthy(env[envName(flag)])))
  const valued = new Set([...NUMBERS.map((s) => s.flag), ...Object.values(LISTS).map((s) => s.flag), '--profile-dir'])
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--help' || arg === '-h') return 'help'
    if (arg in SWITCHES) {
      switches.add(arg)
      continue
    }
    const eq = arg.indexOf('=')
    const name = eq > 0 ? arg.slice(0, eq) : arg
    if (!valued.has(name)) throw new UsageError(`unknown argument ${JSON.stringify(arg)}`)
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i]
    if (value === undefined) throw new UsageError(`${name} needs a value`)
    flags.set(name, value)
  }
  const quick = switches.has('--quick')
  const raw = (flag: string): string | undefined => flags.get(flag) ?? (env[envName(flag)] === '' ? undefined : env[envName(flag)])

  const numbers = {} as Record<NumberKey, number>
  for (const spec of NUMBERS) {
    const text = raw(spec.flag)
    if (text === undefined) {
      numbers[spec.key] = quick ? spec.quick : spec.normal
      continue
    }
    const value = Number(text)
    if (!Number.isInteger(value) || value < spec.min || value > spec.max) {
      throw new UsageError(`${spec.flag}: must be an integer from ${spec.min} to ${spec.max} (got ${JSON.stringify(text)})`)
    }
    numbers[spec.key] = value
  }
  const list = (spec: ListSpec): string => raw(spec.flag) ?? (quick ? spec.quick : spec.normal)
  return {
    quick,
    ...numbers,
    rates: parseCounts('--rates', list(LISTS.rates), 1, 1_000_000, true),
    memory: parseCounts('--memory', list(LISTS.memory), 1, 100_000, true),
    paths: parseList('--paths', list(LISTS.paths), ALL_PATHS),
    scenarios: parseList('--scenarios', list(LISTS.scenarios), ALL_SCENARIOS),
    profile: switches.has('--profile'),
    profileDir: raw('--profile-dir'),
    tsx: switches.has('--tsx'),
    noBuild: switches.has('--no-build'),
  }
}
