/**
 * `GET /status`: a small live page for operators (admin listener only), and
 * `GET /status.json`, the snapshot it polls. Sessions by transport and
 * state, stanzas/s and logins/s, errors by condition, upstream health and
 * event-loop lag, with small charts drawn in the browser from successive
 * snapshots. No external assets: the page, its script and its styles come
 * from this listener, under a strict Content-Security-Policy.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { FastifyInstance } from 'fastify'
import type { Metrics } from '../observability/metrics.js'

/** How often the event-loop delay histogram is summarised and reset. */
const LAG_WINDOW_MS = 5_000
/** Conditions listed on the page, most frequent first. */
const MAX_CONDITIONS = 12

export interface UpstreamView {
  readonly upstream: string
  readonly target: string
  readonly state: 'up' | 'down' | 'unknown'
  readonly checkedAt: number | undefined
  readonly since: number | undefined
  readonly cause?: string
}

export interface StatusOptions {
  readonly metrics: Metrics
  readonly version: string
  readonly nodeId: string
  /** Monotonic milliseconds (the server's Clock). */
  readonly now: () => number
  readonly startedAt: number
  readonly accepting: () => boolean
  readonly sessions: () => ReadonlyMap<string, ReadonlyMap<string, number>>
  readonly upstreams: () => readonly UpstreamView[]
}

type Values = Array<{ value: number; labels: Record<string, string | number | undefined> }>

async function values(metric: { get(): Promise<{ values: Values }> | { values: Values } }): Promise<Values> {
  return (await metric.get()).values
}

function sum(list: Values, where: (labels: Record<string, string | number | undefined>) => boolean = () => true): number {
  return list.reduce((total, v) => (where(v.labels) ? total + v.value : total), 0)
}

function groupBy(list: Values, label: string, where: (labels: Record<string, string | number | undefined>) => boolean = () => true): Record<string, number> {
  const out: Record<string, number> = {}
  for (const v of list) {
    if (!where(v.labels) || v.value === 0) continue
    const key = String(v.labels[label])
    out[key] = (out[key] ?? 0) + v.value
  }
  return out
}

const ms = (ns: number) => Math.round(ns / 1e4) / 100

export function registerStatus(app: FastifyInstance, options: StatusOptions): void {
  const lag = monitorEventLoopDelay({ resolution: 10 })
  lag.enable()
  let lagSnapshot = { p50Ms: 0, p99Ms: 0, maxMs: 0 }
  const summarise = () => {
    if (lag.count > 0) lagSnapshot = { p50Ms: ms(lag.percentile(50)), p99Ms: ms(lag.percentile(99)), maxMs: ms(lag.max) }
    lag.reset()
  }
  const timer = setInterval(summarise, LAG_WINDOW_MS)
  timer.unref()
  app.addHook('onClose', async () => {
    clearInterval(timer)
    lag.disable()
  })

  const { metrics } = options
  const snapshot = async () => {
    const now = options.now()
    const [stanzas, bytes, logins, started, closes, authFailures, upstreamFailures, refusals, held] = await Promise.all([
      values(metrics.stanzas),
      values(metrics.bytes),
      values(metrics.logins),
      values(metrics.sessionsTotal),
      values(metrics.closes),
      values(metrics.authFailures),
      values(metrics.upstreamFailures),
      values(metrics.refusals),
      values(metrics.boshHeldRequests),
    ])
    const sessions: Record<string, Record<string, number>> = {}
    let open = 0
    for (const [transport, states] of options.sessions()) {
      sessions[transport] = Object.fromEntries(states)
      for (const count of states.values()) open += count
    }
    const conditions = Object.entries(groupBy(closes, 'condition', (l) => l.condition !== 'normal'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, MAX_CONDITIONS)
    return {
      version: options.version,
      nodeId: options.nodeId,
      uptimeSeconds: Math.round((now - options.startedAt) / 1000),
      accepting: options.accepting(),
      sessions: { open, byTransport: sessions, started: sum(started), boshHeldRequests: sum(held) },
      totals: {
        stanzasIn: sum(stanzas, (l) => l.direction === 'to_upstream'),
        stanzasOut: sum(stanzas, (l) => l.direction === 'to_client'),
        bytesIn: sum(bytes, (l) => l.direction === 'to_upstream'),
        bytesOut: sum(bytes, (l) => l.direction === 'to_client'),
        logins: sum(logins),
        authFailures: sum(authFailures),
        refusals: sum(refusals),
      },
      errors: { byCondition: Object.fromEntries(conditions), upstreamFailures: groupBy(upstreamFailures, 'reason'), refusals: groupBy(refusals, 'reason') },
      upstreams: options.upstreams().map((u) => ({
        upstream: u.upstream,
        target: u.target,
        state: u.state,
        ...(u.cause !== undefined ? { cause: u.cause } : {}),
        ...(u.since !== undefined ? { forSeconds: Math.round((now - u.since) / 1000) } : {}),
        ...(u.checkedAt !== undefined ? { checkedSecondsAgo: Math.round((now - u.checkedAt) / 1000) } : {}),
      })),
      eventLoop: lagSnapshot,
    }
  }

  const noStore = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }
  app.get('/status.json', async (_request, reply) => reply.headers({ ...noStore, 'content-type': 'application/json; charset=utf-8' }).send(JSON.stringify(await snapshot())))
  app.get('/status', async (_request, reply) =>
    reply
      .headers({
        ...noStore,
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        'referrer-policy': 'no-referrer',
      })
      .send(STATUS_HTML),
  )
  app.get('/status.js', async (_request, reply) => reply.headers({ ...noStore, 'content-type': 'text/javascript; charset=utf-8' }).send(STATUS_JS))
  app.get('/status.css', async (_request, reply) => reply.headers({ ...noStore, 'content-type': 'text/css; charset=utf-8' }).send(STATUS_CSS))
  // Browsers ask for one; an empty answer keeps the console clean.
  app.get('/favicon.ico', async (_request, reply) => reply.code(204).header('cache-control', 'max-age=86400').send())
}

const STATUS_HTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Causeway status</title>
<link rel="stylesheet" href="status.css">
<script src="status.js" defer></script>
</head>
<body>
<header>
  <h1>Causeway <span id="version"></span></h1>
  <span id="node"></span>
  <span id="accepting" class="badge">…</span>
  <span class="muted">up <span id="uptime">–</span> · updated <span id="updated">–</span></span>
</header>
<main>
  <section>
    <h2>Sessions <span class="big" id="sessions-open">–</span></h2>
    <table id="sessions">
      <thead><tr><th></th><th>pre-auth</th><th>authenticated</th><th>draining</th></tr></thead>
      <tbody>
        <tr><th>WebSocket</th><td id="websocket-pre-auth">–</td><td id="websocket-authenticated">–</td><td id="websocket-draining">–</td></tr>
        <tr><th>BOSH</th><td id="bosh-pre-auth">–</td><td id="bosh-authenticated">–</td><td id="bosh-draining">–</td></tr>
      </tbody>
    </table>
    <p class="muted">started <span id="sessions-started">–</span> · BOSH requests held <span id="bosh-held">–</span></p>
    <svg class="chart" id="chart-sessions" viewBox="0 0 300 60" preserveAspectRatio="none" aria-label="open sessions"></svg>
  </section>
  <section>
    <h2>Traffic</h2>
    <p>stanzas/s in <b id="stanzas-in-rate">–</b> · out <b id="stanzas-out-rate">–</b></p>
    <svg class="chart" id="chart-stanzas" viewBox="0 0 300 60" preserveAspectRatio="none" aria-label="stanzas per second"></svg>
    <p>logins/s <b id="logins-rate">–</b> · logins <span id="logins">–</span> · auth failures <span id="auth-failures">–</span></p>
    <svg class="chart" id="chart-logins" viewBox="0 0 300 60" preserveAspectRatio="none" aria-label="logins per second"></svg>
  </section>
  <section>
    <h2>Errors by condition</h2>
    <table id="conditions"><tbody><tr><td class="muted">none yet</td></tr></tbody></table>
    <h3>Refusals</h3>
    <table id="refusals"><tbody><tr><td class="muted">none yet</td></tr></tbody></table>
  </section>
  <section>
    <h2>Upstreams</h2>
    <table id="upstreams"><thead><tr><th>upstream</th><th>target</th><th>state</th><th>for</th><th>cause</th></tr></thead><tbody></tbody></table>
    <h2>Event loop</h2>
    <p>lag p50 <b id="lag-p50">–</b> ms · p99 <b id="lag-p99">–</b> ms · max <b id="lag-max">–</b> ms</p>
    <svg class="chart" id="chart-lag" viewBox="0 0 300 60" preserveAspectRatio="none" aria-label="event loop lag p99"></svg>
  </section>
</main>
</body>
</html>
`

const STATUS_CSS = `
:root { color-scheme: light dark; --fg: #1b2430; --muted: #667; --line: #2a7ab0; --bg: #fff; --card: #f3f5f8; --up: #1f8a4c; --down: #c0392b; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ee; --muted: #99a; --bg: #12161c; --card: #1c222b; --line: #5fb0e8; } }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 16px; align-items: baseline; padding: 10px 16px; border-bottom: 1px solid var(--card); flex-wrap: wrap; }
h1 { font-size: 18px; margin: 0; } h2 { font-size: 15px; margin: 0 0 8px; } h3 { font-size: 13px; margin: 12px 0 4px; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 12px; padding: 12px 16px; }
section { background: var(--card); border-radius: 8px; padding: 12px; overflow-x: auto; }
section h2 + p, table + h2 { margin-top: 12px; }
thead th { font-weight: normal; color: var(--muted); font-size: 12px; white-space: nowrap; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: 2px 6px; font-variant-numeric: tabular-nums; }
td { text-align: right; } td:first-child { text-align: left; }
.big { font-size: 22px; margin-left: 8px; } .muted { color: var(--muted); }
.badge { padding: 1px 8px; border-radius: 10px; background: var(--up); color: #fff; font-size: 12px; } .badge.draining { background: var(--down); }
.state-up { color: var(--up); font-weight: bold; } .state-down { color: var(--down); font-weight: bold; } .state-unknown { color: var(--muted); }
.chart { width: 100%; height: 60px; display: block; margin: 4px 0 8px; }
.chart polyline { fill: none; stroke: var(--line); stroke-width: 1.5; vector-effect: non-scaling-stroke; }
.chart text { fill: var(--muted); font-size: 9px; }
`

const STATUS_JS = `'use strict'
// Polls status.json and draws the last POINTS samples; rates come from successive totals.
const POINTS = 90
const params = new URLSearchParams(location.search)
const INTERVAL = Math.max(250, Number(params.get('refresh')) || 2000)
const series = { sessions: [], stanzas: [], logins: [], lag: [] }
let previous

const $ = (id) => document.getElementById(id)
const text = (id, value) => { const el = $(id); if (el) el.textContent = String(value) }
const fmt = (n) => (Number.isInteger(n) ? String(n) : n.toFixed(n < 10 ? 2 : 1))
const duration = (s) => (s < 120 ? s + ' s' : s < 7200 ? Math.round(s / 60) + ' min' : s < 172800 ? Math.round(s / 3600) + ' h' : Math.round(s / 86400) + ' d')

function push(name, value) {
  const list = series[name]
  list.push(value)
  if (list.length > POINTS) list.shift()
}

function draw(id, list) {
  const svg = $(id)
  if (!svg) return
  const max = Math.max(1, ...list)
  const step = 300 / (POINTS - 1)
  const offset = (POINTS - list.length) * step
  const points = list.map((v, i) => (offset + i * step).toFixed(1) + ',' + (58 - (v / max) * 54).toFixed(1)).join(' ')
  svg.replaceChildren()
  const ns = 'http://www.w3.org/2000/svg'
  const line = document.createElementNS(ns, 'polyline')
  line.setAttribute('points', points)
  const label = document.createElementNS(ns, 'text')
  label.setAttribute('x', '2')
  label.setAttribute('y', '9')
  label.textContent = 'max ' + fmt(max)
  svg.append(line, label)
}

function rows(tableId, entries, empty) {
  const body = $(tableId).tBodies[0]
  body.replaceChildren()
  if (entries.length === 0) {
    const tr = body.insertRow()
    const td = tr.insertCell()
    td.className = 'muted'
    td.textContent = empty
    return
  }
  for (const cells of entries) {
    const tr = body.insertRow()
    for (const cell of cells) {
      const td = tr.insertCell()
      if (cell && typeof cell === 'object') { td.textContent = cell.text; td.className = cell.className } else td.textContent = String(cell)
    }
  }
}

function render(s) {
  text('version', s.version)
  text('node', s.nodeId ? 'node ' + s.nodeId : '')
  const badge = $('accepting')
  badge.textContent = s.accepting ? 'accepting' : 'draining'
  badge.className = 'badge' + (s.accepting ? '' : ' draining')
  text('uptime', duration(s.uptimeSeconds))
  text('updated', new Date().toLocaleTimeString())
  text('sessions-open', s.sessions.open)
  for (const transport of ['websocket', 'bosh']) {
    for (const state of ['pre-auth', 'authenticated', 'draining']) text(transport + '-' + state, (s.sessions.byTransport[transport] || {})[state] || 0)
  }
  text('sessions-started', s.sessions.started)
  text('bosh-held', s.sessions.boshHeldRequests)
  text('logins', s.totals.logins)
  text('auth-failures', s.totals.authFailures)
  const now = performance.now()
  if (previous) {
    const seconds = Math.max(0.001, (now - previous.at) / 1000)
    const rate = (key) => Math.max(0, (s.totals[key] - previous.totals[key]) / seconds)
    const inRate = rate('stanzasIn')
    const outRate = rate('stanzasOut')
    const loginRate = rate('logins')
    text('stanzas-in-rate', fmt(inRate))
    text('stanzas-out-rate', fmt(outRate))
    text('logins-rate', fmt(loginRate))
    push('stanzas', inRate + outRate)
    push('logins', loginRate)
  }
  previous = { at: now, totals: s.totals }
  push('sessions', s.sessions.open)
  push('lag', s.eventLoop.p99Ms)
  text('lag-p50', s.eventLoop.p50Ms)
  text('lag-p99', s.eventLoop.p99Ms)
  text('lag-max', s.eventLoop.maxMs)
  rows('conditions', Object.entries(s.errors.byCondition), 'none yet')
  rows('refusals', Object.entries(s.errors.refusals), 'none yet')
  rows('upstreams', s.upstreams.map((u) => [u.upstream, u.target, { text: u.state, className: 'state-' + u.state }, u.forSeconds === undefined ? '–' : duration(u.forSeconds), u.cause || '']), 'no upstream configured')
  draw('chart-sessions', series.sessions)
  draw('chart-stanzas', series.stanzas)
  draw('chart-logins', series.logins)
  draw('chart-lag', series.lag)
  document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1)
}

async function poll() {
  try {
    const response = await fetch('status.json', { cache: 'no-store' })
    if (response.ok) render(await response.json())
  } catch (error) {
    text('updated', 'unreachable')
  }
  setTimeout(poll, INTERVAL)
}
poll()
`
