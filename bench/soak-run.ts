/**
 * `npm run soak`: flags or SOAK_* variables; prints the timeline and the
 * final counts, exits 1 if a message was lost or duplicated.
 *   npm run soak -- --sessions 2000 --seconds 300 --rate 400
 */
import { parseArgs } from 'node:util'
import { runSoak } from './soak.js'

const { values } = parseArgs({
  options: {
    sessions: { type: 'string' },
    seconds: { type: 'string' },
    rate: { type: 'string' },
    'drop-every-ms': { type: 'string' },
    'no-restart': { type: 'boolean' },
    quick: { type: 'boolean' },
  },
})
const quick = values.quick === true || process.env.SOAK_QUICK === '1'
const number = (flag: string | undefined, env: string | undefined, fallback: number) => {
  const raw = flag ?? env
  const value = raw === undefined ? fallback : Number(raw)
  if (!Number.isFinite(value) || value < 0) throw new Error(`not a number: ${raw}`)
  return value
}

const options = {
  sessions: number(values.sessions, process.env.SOAK_SESSIONS, quick ? 40 : 2000),
  seconds: number(values.seconds, process.env.SOAK_SECONDS, quick ? 15 : 120),
  rate: number(values.rate, process.env.SOAK_RATE, quick ? 50 : 300),
  dropEveryMs: number(values['drop-every-ms'], process.env.SOAK_DROP_EVERY_MS, quick ? 1000 : 500),
  restartUpstream: values['no-restart'] !== true,
  loginConcurrency: 20,
  log: (line: string) => console.log(line),
}
console.log(`soak: ${JSON.stringify({ ...options, log: undefined })}`)
const result = await runSoak(options)
const rss = result.samples.map((s) => s.rssMiB).filter((v): v is number => v !== undefined)
const lag = result.samples.map((s) => s.lagP99Ms).filter((v): v is number => v !== undefined)
console.log('')
console.log(`sent ${result.sent}, expected ${result.expected}, delivered ${result.delivered} (late ${result.late}), lost ${result.lost}, duplicated ${result.duplicated}`)
console.log(`client drops ${result.drops}, reconnects ${result.reconnects}`)
if (rss.length > 0) console.log(`Causeway RSS: first ${rss[0]?.toFixed(1)} MiB, max ${Math.max(...rss).toFixed(1)} MiB, last ${rss.at(-1)?.toFixed(1)} MiB`)
if (lag.length > 0) console.log(`Causeway event-loop lag p99: max ${Math.max(...lag).toFixed(1)} ms, median ${[...lag].sort((a, b) => a - b)[Math.floor(lag.length / 2)]?.toFixed(1)} ms`)
if (result.causewayExit) console.log(`Causeway exited early: ${JSON.stringify(result.causewayExit)}`)
const failed = result.lost > 0 || result.duplicated > 0 || result.causewayExit !== undefined || result.expected === 0
console.log(failed ? 'SOAK FAILED' : 'soak ok')
process.exit(failed ? 1 : 0)
