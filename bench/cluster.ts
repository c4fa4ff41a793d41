/**
 * `npm run bench:cluster`: several Causeway processes on this machine.
 *
 *  A. 1, 2 and 3 nodes behind HAProxy with the backend of
 *     docs/deploy/haproxy-cluster.cfg (BOSH routed on the sid's label):
 *     logins per second and aggregate throughput over WebSocket and BOSH,
 *     with 1 node straight (no HAProxy) as the baseline.
 *  B. The cost of one forwarding hop: one BOSH session on node1, pings
 *     (answered at once by Prosody) sent straight to node1 or to node2,
 *     which forwards them; round trip per request, and CPU per forwarded
 *     request at the forwarder.
 *  C. What `--workers N` would cost against the HAProxy layout, with 2
 *     nodes: connections spread over the processes as the kernel spreads
 *     them over workers sharing a port (WebSocket: each client straight to
 *     one node; BOSH: each request to a random node, foreign ones forwarded).
 *
 * One private Prosody (test harness, loopback only); Causeway from the build
 * (dist/, rebuilt when stale; `--tsx` for src/ under tsx); every process's
 * CPU is measured from /proc. `--quick` for a short run. Reuses the load generator of `npm run bench`
 * (bench/xmpp-link.ts, bench/exchange.ts, bench/causeway-process.ts).
 */
import { readFileSync } from 'node:fs'
import os from 'node:os'
import http from 'node:http'
import { performance } from 'node:perf_hooks'
import { randomBytes } from 'node:crypto'
import { startProsody } from '../test/helpers/prosody.js'
import { startHaproxy } from '../test/helpers/haproxy.js'
import type { RunningHaproxy } from '../test/helpers/haproxy.js'
import { freePort } from '../test/helpers/ports.js'
import { builtEntry, startCausewayProcess } from './causeway-process.js'
import type { CausewayProcess } from './causeway-process.js'
import { NS_HTTPBIND, postBody } from './bosh-transport.js'
import { runExchange, summarise } from './exchange.js'
import { CpuMeter, cpuSeconds } from './procstat.js'
import { count, fixed, markdownTable } from './report.js'
import { XmppLink } from './xmpp-link.js'
import type { LinkKind } from './xmpp-link.js'

const DOMAIN = 'localhost'
const quick = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1'
const PAIRS = quick ? 10 : 40
/** Each throughput run: every sender keeps WINDOW messages in flight for this long. */
const SEND_MS = quick ? 3_000 : 8_000
const WARM_UP_MS = 1_000
const WINDOW = 8
const HOP_REQUESTS = quick ? 200 : 1000
const LOGIN_CONCURRENCY = 20
const SECRET = randomBytes(33).toString('base64')
const SHIPPED = new URL('../docs/deploy/haproxy-cluster.cfg', import.meta.url)

const log = (line: string) => process.stderr.write(`${line}\n`)
const users = Array.from({ length: 2 * PAIRS }, (_, i) => ({ username: `c${i}`, password: `c${i}-pw` }))

/** HAProxy in plain HTTP with the shipped cluster backend (routing, balancing, retries, health) and these servers. */
function haproxyConfig(port: number, nodes: ReadonlyArray<{ label: string; port: number }>): string {
  const shipped = readFileSync(SHIPPED, 'utf8')
  const backend = shipped.slice(/^backend causeway_nodes$/m.exec(shipped)?.index ?? 0)
  const lines = backend
    .split('\n')
    .filter((l) => !/^\s*#/.test(l) && l.trim() !== '')
    // Logging only (needs the frontend's capture slot).
    .filter((l) => !l.includes('http-request capture'))
    .filter((l) => !/^\s*server /.test(l))
  return [
    'global',
    '    maxconn 4000',
    'defaults',
    '    mode http',
    '    timeout connect 5s',
    '    timeout http-request 10s',
    '    timeout client 90s',
    '    timeout server 90s',
    '    timeout http-keep-alive 90s',
    '    timeout tunnel 1h',
    'frontend causeway',
    `    bind 127.0.0.1:${port}`,
    '    default_backend causeway_nodes',
    ...lines,
    ...nodes.map((n) => `    server ${n.label} 127.0.0.1:${n.port}`),
    '',
  ].join('\n')
}

/** Causeway from the build, as `npm run bench` runs it (built first when src/ is newer); `--tsx` runs src/ under tsx. */
let entry: string | undefined
let loadAtStart = ''

async function startNodes(n: number, upstreamPort: number, withPeers: boolean, extra: readonly string[] = []): Promise<CausewayProcess[]> {
  const ports = await Promise.all(Array.from({ length: n }, () => freePort()))
  const peers = withPeers ? ports.flatMap((p, i) => ['--peer', `node${i + 1}=http://127.0.0.1:${p}`]) : []
  process.env.CAUSEWAY_PEER_SECRET = SECRET
  return await Promise.all(
    ports.map((port, i) =>
      startCausewayProcess({ upstreamPort, sessions: users.length, port, entry, startTimeoutMs: 60_000, extraArgs: ['--node-id', `node${i + 1}`, '--trusted-proxy', '127.0.0.1/32', ...peers, ...extra] }),
    ),
  )
}

async function login(kind: LinkKind, urlFor: (i: number) => string, spread?: readonly string[]): Promise<{ links: XmppLink[]; seconds: number }> {
  const links: XmppLink[] = new Array(users.length)
  const started = performance.now()
  let next = 0
  await Promise.all(
    Array.from({ length: LOGIN_CONCURRENCY }, async () => {
      for (let i = next++; i < users.length; i = next++) {
        const u = users[i] as { username: string; password: string }
        links[i] = await XmppLink.login({ kind, url: urlFor(i), ...(spread ? { spread } : {}), domain: DOMAIN, username: u.username, password: u.password, resource: `r${i}`, timeoutMs: 60_000 })
      }
    }),
  )
  return { links, seconds: (performance.now() - started) / 1000 }
}

interface Row {
  readonly layout: string
  readonly transport: string
  readonly logins: number
  readonly loginsPerSecond: number
  readonly stanzasPerSecond: number
  readonly delivered: string
  readonly cpu: Record<string, number>
  readonly causewayUsPerMessage: number
  readonly allUsPerMessage: number
  /** Causeway CPU (all nodes) per login, µs. */
  readonly causewayUsPerLogin: number
}

async function measure(layout: string, kind: LinkKind, urlFor: (i: number) => string, pids: Record<string, number>, spread?: readonly string[]): Promise<Row> {
  const loginMeter = new CpuMeter(pids)
  const { links, seconds } = await login(kind, urlFor, spread)
  const loginCpu = loginMeter.stop()
  const causewayLoginSeconds = Object.entries(loginCpu.cpuSeconds).filter(([k]) => k.startsWith('node')).reduce((a, [, v]) => a + v, 0)
  log(`${layout} ${kind}: ${links.length} logins in ${seconds.toFixed(2)} s`)
  await runExchange(links, { tag: `${layout}${kind}w`, bodyBytes: 100, load: { kind: 'closed', window: WINDOW, sendMs: WARM_UP_MS }, stallMs: 15_000, graceMs: 200 })
  let meter: CpuMeter | undefined
  let cpu: ReturnType<CpuMeter['stop']> | undefined
  const result = await runExchange(links, {
    tag: `${layout}${kind}t`,
    bodyBytes: 100,
    load: { kind: 'closed', window: WINDOW, sendMs: SEND_MS },
    stallMs: 15_000,
    graceMs: 200,
    measure: { start: () => (meter = new CpuMeter(pids)), stop: () => (cpu = meter?.stop()) },
  })
  if (!cpu) throw new Error('no CPU measurement')
  await Promise.all(links.map((l) => l.close(10_000)))
  const causewaySeconds = Object.entries(cpu.cpuSeconds).filter(([k]) => k.startsWith('node')).reduce((a, [, v]) => a + v, 0)
  const allSeconds = Object.entries(cpu.cpuSeconds).filter(([k]) => k !== 'load generator').reduce((a, [, v]) => a + v, 0)
  const bad = result.lost + result.duplicates + result.outOfOrder + result.misrouted + result.damaged
  log(`${layout} ${kind}: ${count(result.stanzasPerSecond)} stanzas/s, ${result.delivered}/${result.sent}${bad ? ` BROKEN ${bad}` : ''}`)
  return {
    layout,
    transport: kind === 'ws' ? 'WebSocket' : 'BOSH',
    logins: links.length,
    loginsPerSecond: links.length / seconds,
    stanzasPerSecond: result.stanzasPerSecond,
    delivered: `${count(result.delivered)}/${count(result.sent)}`,
    cpu: cpu.percent,
    causewayUsPerMessage: (causewaySeconds * 1e6) / Math.max(1, result.delivered),
    allUsPerMessage: (allSeconds * 1e6) / Math.max(1, result.delivered),
    causewayUsPerLogin: (causewayLoginSeconds * 1e6) / links.length,
  }
}

/** A raw BOSH session (PLAIN, bind) for the hop measurement. */
async function rawSession(url: string, account: { username: string; password: string }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  let rid = 1_000_000
  const post = async (target: URL, body: string) => {
    const result = await postBody(agent, target, body, 30_000)
    return result.text
  }
  const target = new URL(url)
  const created = await post(target, `<body rid='${rid}' to='${DOMAIN}' wait='10' hold='1' ver='1.11' xmpp:version='1.0' xmlns='${NS_HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh'/>`)
  const sid = /sid='([^']+)'/.exec(created)?.[1] ?? /sid="([^"]+)"/.exec(created)?.[1]
  if (!sid) throw new Error(`no sid: ${created}`)
  const wrap = (payload: string, extra = '') => `<body rid='${++rid}' sid='${sid}' xmlns='${NS_HTTPBIND}'${extra}>${payload}</body>`
  const auth = Buffer.from(`\0${account.username}\0${account.password}`).toString('base64')
  let answer = await post(target, wrap(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${auth}</auth>`))
  if (!answer.includes('<success')) answer = await post(target, wrap(''))
  if (!answer.includes('<success')) throw new Error(`no SASL success: ${answer}`)
  await post(target, wrap('', ` xmpp:restart='true' xmlns:xmpp='urn:xmpp:xbosh' to='${DOMAIN}'`))
  await post(target, wrap(`<iq type='set' id='b' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>hop</resource></bind></iq>`))
  return {
    sid,
    /** One ping through `via`; resolves with the round trip in ms once its result is in. */
    ping: async (via: URL, id: string): Promise<number> => {
      const started = performance.now()
      let body = await post(via, wrap(`<iq type='get' id='${id}' to='${DOMAIN}' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>`))
      while (!body.includes(`id='${id}'`) && !body.includes(`id="${id}"`)) body = await post(via, wrap(''))
      return performance.now() - started
    },
    close: () => agent.destroy(),
  }
}

async function main(): Promise<void> {
  log(`cluster bench: ${PAIRS} pairs, window ${WINDOW} for ${SEND_MS / 1000} s per run${quick ? ' (quick)' : ''}`)
  loadAtStart = os.loadavg().map((l) => l.toFixed(1)).join(' ')
  entry = process.argv.includes('--tsx') ? undefined : await builtEntry({ build: true, log })
  log(`Causeway: ${entry ?? 'src/bin/causeway.ts under tsx'}`)
  const prosody = await startProsody({ users, scramIterations: 100, logLevel: 'info', startTimeoutMs: 60_000 })
  const pidOf = (dir: string) => Number(readFileSync(`${dir}/prosody.pid`, 'utf8').trim())
  let prosodyPid = 0
  try {
    prosodyPid = pidOf(prosody.dir)
  } catch {
    prosodyPid = 0
  }
  const rows: Row[] = []
  let forwardedInC = 0
  const hopRows: string[][] = []
  try {
    // ── A: behind HAProxy ──
    for (const n of [1, 2, 3]) {
      const nodes = await startNodes(n, prosody.c2sPort, false)
      const pids: Record<string, number> = { prosody: prosodyPid }
      nodes.forEach((node, i) => (pids[`node${i + 1}`] = node.pid))
      let haproxy: RunningHaproxy | undefined
      try {
        if (n === 1) {
          for (const kind of ['ws', 'bosh'] as const) rows.push(await measure('1 node, straight', kind, () => (kind === 'ws' ? (nodes[0] as CausewayProcess).wsUrl : (nodes[0] as CausewayProcess).boshUrl), pids))
        }
        haproxy = await startHaproxy({ render: (ctx) => haproxyConfig(ctx.port, nodes.map((node, i) => ({ label: `node${i + 1}`, port: node.port }))) })
        pids.haproxy = haproxy.pid
        const base = `127.0.0.1:${haproxy.port}`
        for (const kind of ['ws', 'bosh'] as const) rows.push(await measure(`${n} node${n > 1 ? 's' : ''}, HAProxy`, kind, () => (kind === 'ws' ? `ws://${base}/xmpp-websocket` : `http://${base}/http-bind`), pids))
      } finally {
        await haproxy?.stop()
        await Promise.all(nodes.map((node) => node.stop()))
      }
    }

    // ── B: two nodes that forward to each other; no coalescing delay, so a round trip is the hops and the work ──
    const hopNodes = await startNodes(2, prosody.c2sPort, true, ['--bosh-coalesce-ms', '0'])
    try {
      const [one, two] = hopNodes as [CausewayProcess, CausewayProcess]
      const session = await rawSession(one.boshUrl, users[0] as { username: string; password: string })
      const straight = new URL(one.boshUrl)
      const forwarded = new URL(two.boshUrl)
      for (let i = 0; i < 50; i++) {
        await session.ping(straight, `w${i}`)
        await session.ping(forwarded, `v${i}`)
      }
      const direct: number[] = []
      const hop: number[] = []
      for (let i = 0; i < HOP_REQUESTS; i++) {
        direct.push(await session.ping(straight, `d${i}`))
        hop.push(await session.ping(forwarded, `f${i}`))
      }
      const d = summarise(Float64Array.from(direct))
      const f = summarise(Float64Array.from(hop))
      // CPU per request: a batch of each kind alone.
      const cpuOf = async (via: URL, tag: string) => {
        const before = { one: cpuSeconds(one.pid) ?? 0, two: cpuSeconds(two.pid) ?? 0 }
        for (let i = 0; i < HOP_REQUESTS; i++) await session.ping(via, `${tag}${i}`)
        return { one: (((cpuSeconds(one.pid) ?? 0) - before.one) * 1e6) / HOP_REQUESTS, two: (((cpuSeconds(two.pid) ?? 0) - before.two) * 1e6) / HOP_REQUESTS }
      }
      const cpuDirect = await cpuOf(straight, 'cd')
      const cpuHop = await cpuOf(forwarded, 'cf')
      session.close()
      const metricsText = await two.metrics()
      const histogramSum = Number(/causeway_forwarding_latency_seconds_sum\{peer="node1"\} ([0-9.e-]+)/.exec(metricsText)?.[1] ?? NaN)
      const histogramCount = Number(/causeway_forwarding_latency_seconds_count\{peer="node1"\} (\d+)/.exec(metricsText)?.[1] ?? NaN)
      hopRows.push(
        ['straight to the owner', fixed(d.p50 * 1000, 0), fixed(d.p90 * 1000, 0), fixed(d.p99 * 1000, 0), fixed(cpuDirect.one, 0), '–'],
        ['via another node (forwarded)', fixed(f.p50 * 1000, 0), fixed(f.p90 * 1000, 0), fixed(f.p99 * 1000, 0), fixed(cpuHop.one, 0), fixed(cpuHop.two, 0)],
        ['one hop costs', fixed((f.p50 - d.p50) * 1000, 0), fixed((f.p90 - d.p90) * 1000, 0), fixed((f.p99 - d.p99) * 1000, 0), fixed(cpuHop.one - cpuDirect.one, 0), fixed(cpuHop.two, 0)],
      )
      log(`hop: straight p50 ${d.p50.toFixed(3)} ms, forwarded p50 ${f.p50.toFixed(3)} ms; forwarder ${cpuHop.two.toFixed(0)} µs CPU per request; node's own histogram mean ${((histogramSum / histogramCount) * 1e6).toFixed(0)} µs outside the owner`)
      hopRows.push(['node2’s causeway_forwarding_latency_seconds (mean, outside the owner)', fixed((histogramSum / histogramCount) * 1e6, 0), '', '', '', ''])
    } finally {
      await Promise.all(hopNodes.map((node) => node.stop()))
    }

    // ── C: two nodes that forward to each other, with the defaults ──
    const nodes = await startNodes(2, prosody.c2sPort, true)
    const [one, two] = nodes as [CausewayProcess, CausewayProcess]
    try {
      // C: the kernel-shared layout (`--workers`): WebSocket clients straight to a node, BOSH requests to a random node.
      const pids: Record<string, number> = { prosody: prosodyPid, node1: one.pid, node2: two.pid }
      rows.push(await measure('2 nodes, spread by the kernel (workers)', 'ws', (i) => (i % 2 === 0 ? one.wsUrl : two.wsUrl), pids))
      rows.push(await measure('2 nodes, spread by the kernel (workers)', 'bosh', (i) => (i % 2 === 0 ? one.boshUrl : two.boshUrl), pids, [one.boshUrl, two.boshUrl]))
      const fwd = (text: string, peer: string) => Number(new RegExp(`causeway_forwarded_requests_total\\{peer="${peer}",outcome="answered"\\} (\\d+)`).exec(text)?.[1] ?? 0)
      forwardedInC = fwd(await one.metrics(), 'node2') + fwd(await two.metrics(), 'node1')
      log(`forwarded in C: ${forwardedInC}`)
    } finally {
      await Promise.all(nodes.map((node) => node.stop()))
    }
  } finally {
    await prosody.stop()
  }

  const out: string[] = []
  out.push(`Machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}; load average at the start ${loadAtStart}, at the end ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}. Causeway: ${entry ?? 'src/ under tsx'}.\n`)
  out.push(`## Aggregate throughput and logins (${PAIRS} pairs, window ${WINDOW} for ${SEND_MS / 1000} s, 100-byte bodies)\n`)
  out.push(
    markdownTable(
      ['layout', 'transport', 'logins/s', 'Causeway CPU µs/login', 'stanzas/s', 'delivered', 'Causeway CPU µs/msg (all nodes)', 'all server-side CPU µs/msg', 'CPU % of one core'],
      rows.map((r) => [
        r.layout,
        r.transport,
        fixed(r.loginsPerSecond, 0),
        fixed(r.causewayUsPerLogin, 0),
        count(r.stanzasPerSecond),
        r.delivered,
        fixed(r.causewayUsPerMessage, 0),
        fixed(r.allUsPerMessage, 0),
        Object.entries(r.cpu)
          .map(([k, v]) => `${k} ${fixed(v, 0)}`)
          .join(', '),
      ]),
    ),
  )
  out.push(`\nBOSH requests forwarded in the kernel-spread (workers) rows: ${count(forwardedInC)} (WebSocket and the warm-up included).\n`)
  out.push(`\n## One forwarding hop (${HOP_REQUESTS} pings each way, sequential, one BOSH session, boshCoalesceMs 0)\n`)
  out.push(markdownTable(['request', 'p50 µs', 'p90 µs', 'p99 µs', 'owner CPU µs/request', 'forwarder CPU µs/request'], hopRows))
  process.stdout.write(out.join('\n') + '\n')
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    log(`cluster bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    process.exit(1)
  },
)
