/**
 * `npm run bench:heap`: what an idle session holds in Causeway's V8 heap.
 *
 * One private Prosody, one Causeway process from the build (as `npm run bench`
 * runs it), one session in and out, a heap snapshot; then N idle logged-in
 * sessions (WebSocket, or BOSH with one request held) and a second snapshot.
 * The report is the difference per session, by kind of object (constructor
 * name, or V8's own category for strings, arrays, closures and buffers'
 * memory), largest first, next to the RSS growth per session.
 *
 *   npm run bench:heap -- cw-ws 1000
 *   npm run bench:heap -- cw-bosh 1000 --keep   (keep the .heapsnapshot files for DevTools)
 *   npm run bench:heap -- cw-ws 1000 --watch 40 (RSS per session every 5 s of idleness first)
 */
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startProsody } from '../test/helpers/prosody.js'
import { builtEntry, metricValue, startCausewayProcess } from './causeway-process.js'
import { sleep } from './context.js'
import { closeSessions, openSessions, PATHS } from './paths.js'
import type { Endpoint, User } from './paths.js'
import { memory } from './procstat.js'

type HeapPath = 'cw-ws' | 'cw-bosh'

/** Time for sessions to settle (BOSH: the presence echo's request back) before the snapshot. */
const SETTLE_MS = 3000
/** BOSH `wait` of the idle sessions, seconds: longer than the measurement. */
const IDLE_WAIT_SECONDS = 60
/** Kinds of object shown. */
const TOP = 35

interface Tally {
  count: number
  bytes: number
}

/** A V8 heap snapshot's nodes summed by kind: constructor name for objects, V8's category otherwise. */
function tallySnapshot(file: string): Map<string, Tally> {
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }
    nodes: number[]
    strings: string[]
  }
  const fields = snapshot.snapshot.meta.node_fields
  const types = snapshot.snapshot.meta.node_types[0]
  const width = fields.length
  const typeAt = fields.indexOf('type')
  const nameAt = fields.indexOf('name')
  const sizeAt = fields.indexOf('self_size')
  const tally = new Map<string, Tally>()
  const nodes = snapshot.nodes
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt] as number] as string
    const name = snapshot.strings[nodes[i + nameAt] as number] as string
    const kind = type === 'object' || type === 'native' ? name : type === 'closure' ? `(closure) ${name || 'anonymous'}` : `(${type})`
    const entry = tally.get(kind) ?? { count: 0, bytes: 0 }
    entry.count += 1
    entry.bytes += nodes[i + sizeAt] as number
    tally.set(kind, entry)
  }
  return tally
}

/** Ask the process for a snapshot (--heapsnapshot-signal) and wait until the file is complete. */
async function snapshot(pid: number, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir))
  process.kill(pid, 'SIGUSR2')
  for (let waited = 0; waited < 120_000; waited += 250) {
    await sleep(250)
    const file = readdirSync(dir).find((name) => name.endsWith('.heapsnapshot') && !before.has(name))
    if (!file) continue
    const path = join(dir, file)
    const size = statSync(path).size
    await sleep(500)
    if (size > 0 && statSync(path).size === size) return path
  }
  throw new Error('no heap snapshot within 2 minutes')
}

/** V8's committed heap, its new space, and memory outside it that V8 knows of (buffers), in bytes, from Causeway's /metrics. */
function heapFigures(metrics: string): { committed: number; newSpace: number; external: number } {
  return {
    committed: metricValue(metrics, 'nodejs_heap_size_total_bytes') ?? NaN,
    newSpace: metricValue(metrics, 'nodejs_heap_space_size_total_bytes{space="new"}') ?? NaN,
    external: metricValue(metrics, 'nodejs_external_memory_bytes') ?? NaN,
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  const path = (args.find((a) => a === 'cw-ws' || a === 'cw-bosh') ?? 'cw-ws') as HeapPath
  const sessions = Number(args.find((a) => /^\d+$/.test(a)) ?? 1000)
  const keep = args.includes('--keep')
  const watchAt = args.indexOf('--watch')
  const watchSeconds = watchAt >= 0 ? Number(args[watchAt + 1] ?? 30) : 0
  const dir = mkdtempSync(join(tmpdir(), 'causeway-heap-'))
  const users: User[] = Array.from({ length: sessions + 1 }, (_, i) => ({ username: `h${i}`, password: `heap-pw-${i}` }))
  const prosody = await startProsody({ users, accountFiles: true, scramIterations: 100, logLevel: 'info' })
  const entry = await builtEntry({ build: true, log: (text) => console.log(text) })
  const causeway = await startCausewayProcess({
    upstreamPort: prosody.c2sPort,
    sessions: sessions + 16,
    entry,
    nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`],
  })
  try {
    const endpoint: Endpoint = { path, kind: PATHS[path].kind, url: path === 'cw-ws' ? causeway.wsUrl : causeway.boshUrl, relayPid: causeway.pid }
    const login = { concurrency: 50, presence: true, boshWaitSeconds: IDLE_WAIT_SECONDS }
    const warm = await openSessions(endpoint, users.slice(0, 1), 'warm-up', login)
    await closeSessions(warm.links)
    await sleep(1000)
    const first = await snapshot(causeway.pid, dir)
    // After the first snapshot: taking one grows RSS by itself.
    await sleep(1000)
    const rssBefore = memory(causeway.pid)?.rssKiB ?? NaN
    const heapBefore = heapFigures(await causeway.metrics())
    const opened = await openSessions(endpoint, users.slice(1), 'idle', login)
    await sleep(1000)
    for (const link of opened.links) link.trimIdleConnections()
    await sleep(SETTLE_MS)
    const rssWith = memory(causeway.pid)?.rssKiB ?? NaN
    const heapWith = heapFigures(await causeway.metrics())
    // RSS while the sessions stay idle: V8 gives back young-generation and fragmented pages only after a while.
    const perSession = () => (((memory(causeway.pid)?.rssKiB ?? NaN) - rssBefore) / sessions).toFixed(1)
    const trace: string[] = [`${SETTLE_MS / 1000} s ${perSession()}`]
    for (let s = 1; s <= watchSeconds; s++) {
      await sleep(1000)
      if (s % 5 === 0) trace.push(`${SETTLE_MS / 1000 + s} s ${perSession()}`)
    }
    if (watchSeconds > 0) console.log(`RSS growth per session (KiB) over idle time: ${trace.join(', ')}`)
    const second = await snapshot(causeway.pid, dir)
    const rssAfterSnapshots = memory(causeway.pid)?.rssKiB ?? NaN
    const perSessionKiB = (bytes: number) => (bytes / 1024 / sessions).toFixed(1)
    const a = tallySnapshot(first)
    const b = tallySnapshot(second)
    const rows = [...new Set([...a.keys(), ...b.keys()])].map((kind) => {
      const x = a.get(kind) ?? { count: 0, bytes: 0 }
      const y = b.get(kind) ?? { count: 0, bytes: 0 }
      return { kind, count: (y.count - x.count) / sessions, bytes: (y.bytes - x.bytes) / sessions }
    })
    rows.sort((p, q) => q.bytes - p.bytes)
    const total = rows.reduce((sum, row) => sum + row.bytes, 0)
    console.log(`\n${path}, ${sessions} idle sessions: RSS +${((rssWith - rssBefore) / sessions).toFixed(1)} KiB per session; V8 heap (snapshot) +${(total / 1024).toFixed(2)} KiB per session`)
    console.log(
      `RSS growth split (KiB per session): V8 heap committed ${perSessionKiB(heapWith.committed - heapBefore.committed)} (of which new space ${perSessionKiB(heapWith.newSpace - heapBefore.newSpace)}), ` +
        `external ${perSessionKiB(heapWith.external - heapBefore.external)}, rest (native: sockets, parsers, malloc) ${(((rssWith - rssBefore) * 1024 - (heapWith.committed - heapBefore.committed) - (heapWith.external - heapBefore.external)) / 1024 / sessions).toFixed(1)}`,
    )
    console.log(`(RSS after the snapshots: ${(rssAfterSnapshots / 1024).toFixed(0)} MiB; a snapshot itself grows RSS)\n`)
    console.log('| kind | objects per session | bytes per session |')
    console.log('| --- | --- | --- |')
    for (const row of rows.slice(0, TOP)) console.log(`| ${row.kind.slice(0, 70)} | ${row.count.toFixed(2)} | ${row.bytes.toFixed(0)} |`)
    await closeSessions(opened.links)
    if (keep) console.log(`\nsnapshots: ${first} ${second}`)
  } finally {
    await causeway.stop(10_000)
    await prosody.stop()
    if (!keep) rmSync(dir, { recursive: true, force: true })
  }
}

await main()
