/**
 * The traffic scenario: N pairs of logged-in sessions; in each pair A sends
 * chat messages to B's full JID and B to A. Every message carries its
 * sender, a sequence number and its *intended* send time
 * (performance.now(), the receiver is in the same process, so one-way
 * latency needs no clock sync). Each received message is checked and
 * counted exactly once; lost, duplicated, reordered, misrouted and damaged
 * messages are reported, never guessed.
 *
 * Two loads:
 * - closed: every sender keeps `window` messages in flight for `sendMs`
 *   and sends the next one as soon as one arrives: the most the path
 *   delivers (throughput). The latency here is mostly queueing.
 * - open: a fixed schedule at `rate` messages/s over all senders (message k
 *   intended at start + k / rate, from sender k mod senders), sent when the
 *   schedule says whatever happened to earlier messages. Latency is measured
 *   from the intended time, so a late send (a busy load generator, a timer
 *   that fired late) counts as delay instead of hiding it: no coordinated
 *   omission. The send lag (actual − intended) is reported separately.
 */
import { performance } from 'node:perf_hooks'
import type { Element } from 'ltx'
import type { XmppLink } from './xmpp-link.js'

export type Load =
  | { readonly kind: 'closed'; readonly window: number; readonly sendMs: number }
  | { readonly kind: 'open'; readonly rate: number; readonly sendMs: number }

export interface ExchangeOptions {
  /** Distinguishes this run's messages from any earlier run on the same sessions. */
  readonly tag: string
  readonly bodyBytes: number
  readonly load: Load
  /** No message sent or delivered for this long ends the run, and what is missing counts as lost. */
  readonly stallMs: number
  /** Wait this long after the last message, to catch late duplicates. */
  readonly graceMs: number
  /** Called just before the first send and at the last delivery (or when the run gives up): the measured window. */
  readonly measure?: { start(): void; stop(): void }
}

export interface LatencySummary {
  readonly count: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
  readonly mean: number
}

export interface ExchangeResult {
  readonly senders: number
  readonly sent: number
  readonly delivered: number
  /** Sent and never received. */
  readonly lost: number
  /** Open load: scheduled but never sent because the run ended early. */
  readonly notSent: number
  readonly duplicates: number
  readonly outOfOrder: number
  readonly misrouted: number
  readonly damaged: number
  /** Messages from an earlier run (other tag) that arrived during this one. */
  readonly stray: number
  /** `<message type='error'/>` bounces and other unexpected stanzas. */
  readonly bounced: number
  /** Sessions that ended during the run, with why. */
  readonly connectionErrors: string[]
  readonly stalled: boolean
  /** First send to last delivery. */
  readonly durationMs: number
  readonly stanzasPerSecond: number
  /** Receive time − intended send time. */
  readonly latencyMs: LatencySummary
  /** Open load: actual send time − intended send time (the load generator's own lateness). */
  readonly sendLagMs: LatencySummary | undefined
  /** A few examples of what went wrong, for the report. */
  readonly samples: string[]
}

interface SenderState {
  readonly from: XmppLink
  readonly to: number
  readonly toJid: string
  sent: number
  acked: number
  highest: number
  seen: Uint8Array
}

/** Percentiles by nearest rank over the recorded values. */
export function summarise(values: readonly number[] | Float64Array): LatencySummary {
  if (values.length === 0) return { count: 0, p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN }
  const sorted = Float64Array.from(values).sort()
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? NaN
  let sum = 0
  for (const v of sorted) sum += v
  return { count: sorted.length, p50: rank(0.5), p90: rank(0.9), p99: rank(0.99), max: sorted[sorted.length - 1] ?? NaN, mean: sum / sorted.length }
}

/**
 * Run one exchange over `links` (pairs: links[2p] ⇄ links[2p+1]). Sender s is
 * links[s] sending to links[s ^ 1]. Resolves when every sent message arrived
 * (plus the grace period) or when nothing moved for `stallMs`.
 */
export function runExchange(links: readonly XmppLink[], options: ExchangeOptions): Promise<ExchangeResult> {
  if (links.length % 2 !== 0 || links.length === 0) throw new Error('runExchange needs an even, non-zero number of links')
  const { tag, bodyBytes, load } = options
  const senderCount = links.length
  const senders: SenderState[] = links.map((from, s) => ({
    from,
    to: s ^ 1,
    toJid: links[s ^ 1]!.jid,
    sent: 0,
    acked: 0,
    highest: -1,
    seen: new Uint8Array(64),
  }))
  const latencies: number[] = []
  const sendLags: number[] = []
  const samples: string[] = []
  const sample = (text: string) => {
    if (samples.length < 10) samples.push(text)
  }
  const connectionErrors: string[] = []
  let delivered = 0
  let totalSent = 0
  let duplicates = 0
  let outOfOrder = 0
  let misrouted = 0
  let damaged = 0
  let stray = 0
  let bounced = 0
  let lastDelivery = 0
  let lastProgress = performance.now()
  let start = 0
  let sendingOver = false
  let measuring = false
  const prefix = `${tag}:`
  /** Open load: messages scheduled in all, and the next one to send. */
  const scheduled = load.kind === 'open' ? Math.max(1, Math.round((load.rate * load.sendMs) / 1000)) : 0
  let nextScheduled = 0

  const send = (s: number, intended: number): void => {
    const st = senders[s]!
    const seq = st.sent++
    totalSent++
    const head = `${prefix}${s}:${seq}:${Math.round(intended * 1000)}:`
    const body = head.length >= bodyBytes ? head : head + 'x'.repeat(bodyBytes - head.length)
    st.from.send(`<message xmlns='jabber:client' to='${st.toJid}' type='chat' id='${tag}-${s}-${seq}'><body>${body}</body></message>`)
  }

  /** Closed load: fill sender s's window (while the sending time lasts). */
  const pump = (s: number): void => {
    if (load.kind !== 'closed' || sendingOver) return
    const st = senders[s]!
    while (st.sent - st.acked < load.window) {
      const now = performance.now()
      if (now - start >= load.sendMs) return
      send(s, now)
      lastProgress = now
    }
  }

  /** Open load: send everything the schedule owes by now, then sleep until the next message is due. */
  let ticker: NodeJS.Timeout | undefined
  const interval = load.kind === 'open' ? 1000 / load.rate : 0
  const tick = (): void => {
    ticker = undefined
    if (finishing) return
    let now = performance.now()
    while (nextScheduled < scheduled) {
      const intended = start + nextScheduled * interval
      if (intended > now) break
      send(nextScheduled % senderCount, intended)
      sendLags.push(now - intended)
      nextScheduled++
      lastProgress = now
      now = performance.now()
    }
    if (nextScheduled < scheduled) {
      ticker = setTimeout(tick, Math.max(0, start + nextScheduled * interval - performance.now()))
    } else {
      sendingOver = true
      maybeDone()
    }
  }

  const receive = (at: number, element: Element): void => {
    const name = element.getName()
    if (name === 'presence') return // our own available presence, echoed
    if (name !== 'message' || element.attrs.type === 'error') {
      bounced++
      sample(`unexpected at link ${at}: ${element.toString().slice(0, 300)}`)
      return
    }
    const body = element.getChildText('body')
    if (body === null || !body.startsWith(prefix)) {
      stray++
      return
    }
    const now = performance.now()
    // "tag:sender:seq:micros:xxxx"
    const a = prefix.length
    const b = body.indexOf(':', a)
    const c = body.indexOf(':', b + 1)
    const d = body.indexOf(':', c + 1)
    const s = Number(body.slice(a, b))
    const seq = Number(body.slice(b + 1, c))
    const intended = Number(body.slice(c + 1, d)) / 1000
    const st = senders[s]
    if (!st || b < 0 || c < 0 || d < 0 || !Number.isInteger(seq) || seq < 0 || seq >= st.sent || !Number.isFinite(intended)) {
      damaged++
      sample(`damaged at link ${at}: ${body.slice(0, 120)}`)
      return
    }
    if (st.to !== at) {
      misrouted++
      sample(`misrouted: sender ${s} message ${seq} arrived at link ${at}, meant for ${st.to}`)
      return
    }
    if (body.length !== Math.max(d + 1, bodyBytes) || body.charCodeAt(body.length - 1) !== (body.length > d + 1 ? 120 : 58)) {
      damaged++
      sample(`damaged body length ${body.length} from sender ${s} message ${seq}`)
      return
    }
    if (seq >= st.seen.length) {
      const grown = new Uint8Array(Math.max(st.seen.length * 2, seq + 1))
      grown.set(st.seen)
      st.seen = grown
    }
    if (st.seen[seq] === 1) {
      duplicates++
      sample(`duplicate: sender ${s} message ${seq}`)
      return
    }
    st.seen[seq] = 1
    if (seq < st.highest) {
      outOfOrder++
      sample(`out of order: sender ${s} message ${seq} after ${st.highest}`)
    } else {
      st.highest = seq
    }
    latencies.push(now - intended)
    delivered++
    st.acked++
    lastDelivery = now
    lastProgress = now
    pump(s)
    maybeDone()
  }

  let resolveRun!: (result: ExchangeResult) => void
  const done = new Promise<ExchangeResult>((resolve) => (resolveRun = resolve))
  let finishing = false
  let stalled = false

  const stopMeasuring = (): void => {
    if (!measuring) return
    measuring = false
    options.measure?.stop()
  }

  const maybeDone = (): void => {
    if (sendingOver && delivered === totalSent && !finishing) {
      stopMeasuring()
      finishSoon()
    }
  }

  const finish = (): void => {
    clearInterval(watchdog)
    clearTimeout(sendDeadline)
    if (ticker) clearTimeout(ticker)
    // Later elements (e.g. the next run's) are not this run's business.
    for (const link of links) link.attach({ element: () => {}, closed: () => {} })
    const durationMs = Math.max(0, lastDelivery - start)
    resolveRun({
      senders: senderCount,
      sent: totalSent,
      delivered,
      lost: totalSent - delivered,
      notSent: load.kind === 'open' ? scheduled - nextScheduled : 0,
      duplicates,
      outOfOrder,
      misrouted,
      damaged,
      stray,
      bounced,
      connectionErrors,
      stalled,
      durationMs,
      stanzasPerSecond: durationMs > 0 ? (delivered / durationMs) * 1000 : 0,
      latencyMs: summarise(latencies),
      sendLagMs: load.kind === 'open' ? summarise(sendLags) : undefined,
      samples,
    })
  }
  const finishSoon = (): void => {
    if (finishing) return
    finishing = true
    stopMeasuring()
    if (ticker) clearTimeout(ticker)
    setTimeout(finish, options.graceMs)
  }

  const watchdog = setInterval(() => {
    if (finishing) return
    if (performance.now() - lastProgress > options.stallMs) {
      stalled = true
      sample(`stalled: nothing sent or delivered for ${options.stallMs} ms with ${totalSent - delivered} messages outstanding`)
      finishSoon()
    }
  }, 100)

  links.forEach((link, at) => {
    link.attach({
      element: (element) => receive(at, element),
      closed: (error) => {
        connectionErrors.push(`link ${at} (${link.jid}) ended during the run: ${error ?? 'closed'}`)
        sample(connectionErrors.at(-1)!)
        finishSoon()
      },
    })
  })

  let sendDeadline: NodeJS.Timeout | undefined
  if (!finishing) {
    options.measure?.start()
    measuring = true
    start = performance.now()
    lastProgress = start
    if (load.kind === 'closed') {
      sendDeadline = setTimeout(() => {
        sendingOver = true
        maybeDone()
      }, load.sendMs)
      for (let s = 0; s < senderCount; s++) pump(s)
    } else {
      tick()
    }
  }
  return done
}
