/**
 * Benchmark settings: defaults, then BENCH_* environment variables, then
 * command-line flags (`npm run bench -- --pairs 200`). Bad values are errors.
 */

export type PathName = 'tcp' | 'ws' | 'bosh-causeway' | 'bosh-prosody'
export const ALL_PATHS: readonly PathName[] = ['tcp', 'ws', 'bosh-causeway', 'bosh-prosody']

export interface BenchOptions {
  readonly quick: boolean
  /** Pairs of sessions; each pair is two users, so 2 × pairs sessions per path. */
  readonly pairs: number
  /** Messages each session sends to its partner, per run (so 2 × pairs × messages per run). */
  readonly messages: number
  /** Body length in bytes (ASCII); the sequence/timestamp header counts towards it. */
  readonly size: number
  /** Messages in flight (sent, not yet received) per sending session. */
  readonly window: number
  /** Aggregate rate of the paced run, messages/s; 0 skips the paced run. */
  readonly rate: number
  /** Length of the paced run, seconds. */
  readonly pacedSeconds: number
  /** Concurrent logins while opening sessions. */
  readonly loginConcurrency: number
  /** Nothing sent or delivered for this long ends a run (the rest counts as lost). */
  readonly stallMs: number
  /** Whole benchmark bound; reaching it is a failure (something hung). */
  readonly timeoutSeconds: number
  /** Run Causeway from a built entry point with plain node instead of src/ under tsx. */
  readonly causewayEntry: string | undefined
  /** Pairs of sessions on the BOSH paths (at most `pairs`: the same users log in again). */
  readonly boshPairs: number
  /** Which paths to run (possibly none, e.g. with idleBosh). */
  readonly paths: ReadonlyArray<PathName>
  /** Idle held-session memory: numbers of BOSH sessions to hold through Causeway, ascending; empty: skipped. */
  readonly idleBosh: readonly number[]
  /**
   * Turn Nagle's algorithm off on Prosody's sockets (network_settings.nagle = false; Prosody's default is on).
   * Causeway and the load generator always set TCP_NODELAY. Measured here it made no consistent difference.
   */
  readonly prosodyNoDelay: boolean
}

interface Spec {
  readonly key: Exclude<keyof BenchOptions, 'quick' | 'causewayEntry' | 'paths' | 'prosodyNoDelay' | 'idleBosh'>
  readonly flag: string
  readonly env: string
  readonly min: number
  readonly max: number
  readonly normal: number
  readonly quick: number
  readonly help: string
}

const SPECS: readonly Spec[] = [
  { key: 'pairs', flag: '--pairs', env: 'BENCH_PAIRS', min: 1, max: 1000, normal: 50, quick: 10, help: 'pairs of sessions (2 users each)' },
  { key: 'boshPairs', flag: '--bosh-pairs', env: 'BENCH_BOSH_PAIRS', min: 1, max: 1000, normal: 25, quick: 5, help: 'pairs on the two BOSH paths (capped at --pairs)' },
  { key: 'messages', flag: '--messages', env: 'BENCH_MESSAGES', min: 1, max: 100_000, normal: 200, quick: 100, help: 'messages per session and direction in the throughput run' },
  { key: 'size', flag: '--size', env: 'BENCH_SIZE', min: 0, max: 60_000, normal: 100, quick: 100, help: 'message body bytes' },
  { key: 'window', flag: '--window', env: 'BENCH_WINDOW', min: 1, max: 1000, normal: 8, quick: 8, help: 'messages in flight per sending session' },
  { key: 'rate', flag: '--rate', env: 'BENCH_RATE', min: 0, max: 1_000_000, normal: 1000, quick: 1000, help: 'aggregate messages/s of the paced run (0: no paced run)' },
  { key: 'pacedSeconds', flag: '--paced-seconds', env: 'BENCH_PACED_SECONDS', min: 1, max: 600, normal: 5, quick: 2, help: 'length of the paced run' },
  { key: 'loginConcurrency', flag: '--login-concurrency', env: 'BENCH_LOGIN_CONCURRENCY', min: 1, max: 1000, normal: 20, quick: 20, help: 'logins in parallel' },
  { key: 'stallMs', flag: '--stall-ms', env: 'BENCH_STALL_MS', min: 1000, max: 600_000, normal: 15_000, quick: 10_000, help: 'no progress for this long ends a run' },
  { key: 'timeoutSeconds', flag: '--timeout-seconds', env: 'BENCH_TIMEOUT_SECONDS', min: 10, max: 86_400, normal: 1800, quick: 120, help: 'bound on the whole benchmark' },
]

export const USAGE = `Usage: npm run bench -- [flags]   (or the BENCH_* environment variables; flags win)

  --quick                 (BENCH_QUICK=1) small run, finishes in well under 30 s
${SPECS.map((s) => `  ${`${s.flag} N`.padEnd(24)}(${s.env}) ${s.help}; default ${s.normal}, quick ${s.quick}`).join('\n')}
  --paths LIST            (BENCH_PATHS) which paths to run, in order, from tcp, ws, bosh-causeway, bosh-prosody
                          (or "none"); default all four
  --idle-bosh N,N         (BENCH_IDLE_BOSH) also measure Causeway's RSS with N idle BOSH sessions (creation only,
                          one empty request held each), for each N in turn; default off
  --prosody-nodelay       (BENCH_PROSODY_NODELAY=1) Prosody with network_settings = { nagle = false }
                          (TCP_NODELAY, like Causeway and the load generator); default: Prosody's own default, Nagle on
  --causeway-entry FILE   (BENCH_CAUSEWAY_ENTRY) run Causeway as "node FILE" (a build) instead of "node --import tsx src/bin/causeway.ts"
  --help
`

export class UsageError extends Error {}

function truthy(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes)$/i.test(value)
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions | 'help' {
  const flags = new Map<string, string>()
  let quick = truthy(env.BENCH_QUICK)
  let prosodyNoDelay = truthy(env.BENCH_PROSODY_NODELAY)
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--help' || arg === '-h') return 'help'
    if (arg === '--quick') {
      quick = true
      continue
    }
    if (arg === '--prosody-nodelay') {
      prosodyNoDelay = true
      continue
    }
    const eq = arg.indexOf('=')
    const name = eq > 0 ? arg.slice(0, eq) : arg
    const known = SPECS.some((s) => s.flag === name) || name === '--paths' || name === '--causeway-entry' || name === '--idle-bosh'
    if (!known) throw new UsageError(`unknown argument ${JSON.stringify(arg)}`)
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i]
    if (value === undefined) throw new UsageError(`${name} needs a value`)
    flags.set(name, value)
  }
  const values: Record<string, number> = {}
  for (const spec of SPECS) {
    const fromFlag = flags.get(spec.flag)
    const fromEnv = env[spec.env] === '' ? undefined : env[spec.env]
    const raw = fromFlag ?? fromEnv
    if (raw === undefined) {
      values[spec.key] = quick ? spec.quick : spec.normal
      continue
    }
    const value = Number(raw)
    if (!Number.isInteger(value) || value < spec.min || value > spec.max) {
      throw new UsageError(`${fromFlag !== undefined ? spec.flag : spec.env}: must be an integer from ${spec.min} to ${spec.max} (got ${JSON.stringify(raw)})`)
    }
    values[spec.key] = value
  }
  const rawPaths = flags.get('--paths') ?? (env.BENCH_PATHS || ALL_PATHS.join(','))
  const paths = rawPaths.trim() === 'none' ? [] : rawPaths.split(',').map((p) => p.trim())
  if ((paths.length === 0 && rawPaths.trim() !== 'none') || paths.some((p) => !(ALL_PATHS as readonly string[]).includes(p))) {
    throw new UsageError(`--paths: a comma-separated list of ${ALL_PATHS.join(', ')}, or none (got ${JSON.stringify(rawPaths)})`)
  }
  const rawIdle = flags.get('--idle-bosh') ?? (env.BENCH_IDLE_BOSH || '')
  const idleBosh = rawIdle.trim() === '' ? [] : rawIdle.split(',').map((n) => Number(n.trim().replace(/_/g, '')))
  if (idleBosh.some((n) => !Number.isInteger(n) || n < 1 || n > 100_000)) {
    throw new UsageError(`--idle-bosh: comma-separated session counts from 1 to 100000 (got ${JSON.stringify(rawIdle)})`)
  }
  idleBosh.sort((a, b) => a - b)
  const entry = flags.get('--causeway-entry') ?? (env.BENCH_CAUSEWAY_ENTRY || undefined)
  return {
    quick,
    pairs: values.pairs!,
    messages: values.messages!,
    size: values.size!,
    window: values.window!,
    rate: values.rate!,
    pacedSeconds: values.pacedSeconds!,
    loginConcurrency: values.loginConcurrency!,
    stallMs: values.stallMs!,
    timeoutSeconds: values.timeoutSeconds!,
    causewayEntry: entry,
    boshPairs: Math.min(values.boshPairs!, values.pairs!),
    paths: [...new Set(paths)] as PathName[],
    idleBosh: [...new Set(idleBosh)],
    prosodyNoDelay,
  }
}
