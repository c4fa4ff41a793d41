/**
 * Idle held-session memory: N BOSH sessions through Causeway, created and
 * then left idle, each with one empty request held (re-issued whenever it
 * returns, as a real client does). No login: each session is an
 * unauthenticated upstream c2s stream, so Causeway's pre-auth timeout is
 * raised for the measurement (and the benchmark raises Prosody's
 * c2s_timeout). Measures Causeway's RSS before and with N held sessions.
 *
 * File descriptors bound N: Causeway needs two per session (the client's
 * HTTP connection and the upstream TCP connection), the load generator and
 * Prosody one each. The largest N that fits is measured instead of a larger
 * one asked for, and the report says so.
 */
import http from 'node:http'
import { readdirSync, readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { parse as parseXml } from 'ltx'
import { firstRid, NS_HTTPBIND, NS_XBOSH, postBody } from './bosh-transport.js'
import { metricValue, startCausewayProcess } from './causeway-process.js'
import type { CausewayProcess } from './causeway-process.js'
import { memory } from './procstat.js'
import type { MemorySample } from './procstat.js'
import { count, fixed, markdownTable, mib } from './report.js'

const DOMAIN = 'localhost'
const WAIT_SECONDS = 60
const CREATE_CONCURRENCY = 100
const SETTLE_MS = 3000
/** Descriptors kept free in each process for everything that is not a session. */
const FD_MARGIN = 200

export interface IdleBoshReport {
  readonly lines: string[]
}

export interface IdleBoshOptions {
  readonly counts: readonly number[]
  readonly upstreamPort: number
  readonly prosodyPid: number | undefined
  readonly entry: string | undefined
  readonly log: (text: string) => void
  readonly failures: string[]
}

const sleep = (msec: number) => new Promise((resolve) => setTimeout(resolve, msec))

function fdLimit(pid: number | 'self'): number {
  try {
    const limits = readFileSync(`/proc/${pid}/limits`, 'utf8')
    return Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1] ?? NaN)
  } catch {
    return NaN
  }
}

function fdsOpen(pid: number | 'self'): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return NaN
  }
}

/** One idle session: created, then always one empty request held. */
class IdleSession {
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1 })
  readonly #live = new Set<http.ClientRequest>()
  #rid = firstRid()
  #sid = ''
  #stopped = false
  /** Why the session ended, if it did while it should have been held. */
  ended: string | undefined
  returns = 0

  constructor(private readonly url: URL) {}

  async create(): Promise<void> {
    const { status, text } = await postBody(
      this.#agent,
      this.url,
      `<body content='text/xml; charset=utf-8' hold='1' rid='${this.#rid}' to='${DOMAIN}' ver='1.11' wait='${WAIT_SECONDS}' ` +
        `xml:lang='en' xmpp:version='1.0' xmlns='${NS_HTTPBIND}' xmlns:xmpp='${NS_XBOSH}'/>`,
      30_000,
      this.#live,
    )
    const body = status === 200 ? parseXml(text) : undefined
    const sid = body?.attrs.sid
    if (!sid || body?.attrs.type === 'terminate') throw new Error(`BOSH creation refused: HTTP ${status} ${text.slice(0, 300)}`)
    this.#sid = sid
    this.#hold()
  }

  #hold(): void {
    if (this.#stopped) return
    postBody(this.#agent, this.url, `<body rid='${++this.#rid}' sid='${this.#sid}' xmlns='${NS_HTTPBIND}'/>`, (WAIT_SECONDS + 30) * 1000, this.#live).then(
      ({ status, text }) => {
        if (this.#stopped) return
        this.returns++
        if (status !== 200 || /type=['"]terminate['"]/.test(text.slice(0, 500))) {
          this.ended = `HTTP ${status} ${text.slice(0, 200)}`
          return
        }
        this.#hold()
      },
      (error: Error) => {
        if (this.#stopped) return
        this.ended = `request failed: ${error.message}`
      },
    )
  }

  /** Stop re-issuing and drop the connection (Causeway is stopped right after). */
  stop(): void {
    this.#stopped = true
    for (const request of this.#live) request.destroy()
    this.#agent.destroy()
  }

  /** A polite end: terminate, and wait for the answer. */
  async terminate(): Promise<void> {
    this.#stopped = true
    const agent = new http.Agent({ keepAlive: false })
    try {
      await postBody(agent, this.url, `<body rid='${++this.#rid}' sid='${this.#sid}' type='terminate' xmlns='${NS_HTTPBIND}'/>`, 10_000)
    } finally {
      agent.destroy()
      this.stop()
    }
  }
}

async function openMany(sessions: IdleSession[], n: number, url: URL): Promise<void> {
  let next = 0
  let failure: Error | undefined
  const worker = async () => {
    while (failure === undefined && next < n) {
      next++
      const session = new IdleSession(url)
      try {
        await session.create()
        sessions.push(session)
      } catch (error) {
        failure ??= error as Error
        session.stop()
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(CREATE_CONCURRENCY, n) }, worker))
  if (failure) throw failure
}

export async function runIdleBosh(options: IdleBoshOptions): Promise<IdleBoshReport> {
  const { log, failures } = options
  const wanted = options.counts[options.counts.length - 1] ?? 0
  let causeway: CausewayProcess | undefined
  const sessions: IdleSession[] = []
  const rows: string[][] = []
  const notes: string[] = []
  try {
    causeway = await startCausewayProcess({
      upstreamPort: options.upstreamPort,
      sessions: wanted + 16,
      entry: options.entry,
      extraArgs: ['--pre-auth-timeout-ms', String(3_600_000)],
    })
    const cw = causeway
    const url = new URL(cw.boshUrl)
    log(`idle BOSH: Causeway pid ${cw.pid} on ${cw.boshUrl}, sessions ${options.counts.join(', ')}`)

    // Descriptors: Causeway 2 per session, this process and Prosody 1 each.
    const budget = (pid: number | 'self', perSession: number) => Math.floor((fdLimit(pid) - fdsOpen(pid) - FD_MARGIN) / perSession)
    const fits = Math.min(
      budget(cw.pid, 2),
      budget('self', 1),
      options.prosodyPid !== undefined ? budget(options.prosodyPid, 1) : Infinity,
    )
    const limitText =
      `open-file limits: Causeway ${fdLimit(cw.pid)} (2 per held session: HTTP + upstream), load generator ${fdLimit('self')}, ` +
      `Prosody ${options.prosodyPid !== undefined ? fdLimit(options.prosodyPid) : '?'}`
    log(`idle BOSH: ${limitText}; at most ${count(fits)} sessions fit`)
    const counts = [...new Set(options.counts.map((n) => (Number.isFinite(fits) ? Math.min(n, fits) : n)))]
    if (counts[counts.length - 1]! < wanted) {
      notes.push(
        `${count(wanted)} held sessions were asked for, but only ${count(counts[counts.length - 1])} fit: ${limitText} ` +
          `(hard limit; raising it needs privileges this run does not have), ${FD_MARGIN} kept free in each.`,
      )
    }

    await sleep(1000)
    // Warm-up: one session created, held, terminated, so first-use code is not counted per session.
    const warm: IdleSession[] = []
    await openMany(warm, 1, url)
    await sleep(500)
    await warm[0]?.terminate()
    await sleep(SETTLE_MS)
    const before = memory(cw.pid)
    const prosodyBefore = options.prosodyPid !== undefined ? memory(options.prosodyPid) : undefined
    log(`idle BOSH: Causeway RSS before sessions ${mib(before?.rssKiB)}`)

    for (const n of counts) {
      const started = performance.now()
      await openMany(sessions, n - sessions.length, url)
      const seconds = (performance.now() - started) / 1000
      await sleep(SETTLE_MS)
      const withSessions: MemorySample | undefined = memory(cw.pid)
      const prosodyWith = options.prosodyPid !== undefined ? memory(options.prosodyPid) : undefined
      const metrics = await cw.metrics().catch(() => '')
      const held = metricValue(metrics, 'causeway_bosh_held_requests')
      const open = metricValue(metrics, 'causeway_sessions_open{transport="bosh"}')
      const ended = sessions.filter((s) => s.ended !== undefined)
      const perSession = withSessions && before ? (withSessions.rssKiB - before.rssKiB) / n : undefined
      const prosodyPer = prosodyWith && prosodyBefore ? (prosodyWith.rssKiB - prosodyBefore.rssKiB) / n : undefined
      log(
        `idle BOSH: ${count(n)} sessions created in ${fixed(seconds, 1)} s; Causeway held ${count(held)}, open ${count(open)}; ` +
          `RSS ${mib(withSessions?.rssKiB)} → ${fixed(perSession, 1)} KiB per held session` +
          (ended.length > 0 ? `; ${ended.length} ENDED, e.g. ${ended[0]!.ended}` : ''),
      )
      if (ended.length > 0) failures.push(`idle BOSH: ${ended.length} of ${n} held sessions ended (${ended[0]!.ended})`)
      rows.push([
        count(n),
        `${fixed(seconds, 1)} s`,
        count(held),
        mib(before?.rssKiB),
        mib(withSessions?.rssKiB),
        `${fixed(perSession, 1)} KiB`,
        mib(withSessions?.peakKiB),
        `${fixed(prosodyPer, 1)} KiB`,
      ])
    }

    // Leave politely: terminate every session (concurrently, bounded), then stop Causeway.
    const started = performance.now()
    let next = 0
    await Promise.all(
      Array.from({ length: Math.min(CREATE_CONCURRENCY, sessions.length) }, async () => {
        while (next < sessions.length) {
          const session = sessions[next++]!
          await session.terminate().catch(() => session.stop())
        }
      }),
    )
    log(`idle BOSH: ${count(sessions.length)} sessions terminated in ${fixed((performance.now() - started) / 1000, 1)} s`)
    await sleep(1000)
    const afterClose = memory(cw.pid)
    notes.push(`Causeway RSS after terminating them all: ${mib(afterClose?.rssKiB)}. Causeway command: ${cw.command}`)
    const crashed = cw.exitStatus()
    if (crashed) failures.push(`idle BOSH: Causeway exited (code ${String(crashed.code)}, signal ${String(crashed.signal)})`)
    const status = await cw.stop()
    if (!crashed && status.code !== 0) failures.push(`idle BOSH: Causeway did not exit cleanly on SIGTERM (code ${String(status.code)}, signal ${String(status.signal)})`)
    const output = cw.output().trim()
    if (output !== '') log(`idle BOSH: Causeway output (warn and above):\n${output.split('\n').slice(-20).join('\n')}`)
    causeway = undefined
  } catch (error) {
    failures.push(`idle BOSH aborted: ${(error as Error).message}`)
  } finally {
    for (const session of sessions) session.stop()
    await causeway?.stop(5000)
  }
  return {
    lines: [
      '',
      `### Idle held BOSH sessions through Causeway (created, not logged in; one empty request held each, wait ${WAIT_SECONDS} s)`,
      '',
      markdownTable(['sessions', 'created in', 'held (Causeway metric)', 'RSS before', 'RSS with sessions', 'RSS per held session', 'peak (VmHWM)', 'Prosody RSS per stream'], rows),
      '',
      '"RSS per held session" = (with sessions − before) / sessions, measured 3 s after the last one was created; the counts are cumulative (the later row includes the earlier sessions).',
      ...notes,
    ],
  }
}
