/**
 * The scenario: N pairs of logged-in sessions; in each pair A sends to B and
 * B sends to A. Every message carries its sender, a sequence number and the
 * send time (performance.now(), same process as the receiver, so one-way
 * latency needs no clock sync). Each received message is checked and counted
 * exactly once; lost, duplicated, reordered, misrouted and damaged messages
 * are reported, never guessed.
 *
 * Load is bounded per sender: at most `window` messages in flight (sent, not
 * yet received). Optionally also paced to an aggregate rate, which measures
 * latency at a fixed offered load instead of at saturation.
 */
import { performance } from 'node:perf_hooks'
import type { Element } from 'ltx'
import type { XmppLink } from './xmpp-link.js'

export interface ExchangeOptions {
  /** Distinguishes this run's messages from any earlier run on the same sessions. */
  readonly tag: string
  readonly messagesPerSender: number
  readonly bodyBytes: number
  readonly window: number
  /** Aggregate messages per second over all senders; undefined: as fast as the window allows. */
  readonly ratePerSecond: number | undefined
  /** No message sent or delivered for this long ends the run, and what is missing counts as lost. */
  readonly stallMs: number
  /** Wait this long after the last expected message, to catch late duplicates. */
  readonly graceMs: number
}

export interface LatencySummary {
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
  readonly mean: number
}

export interface ExchangeResult {
  readonly senders: number
  readonly expected: number
  readonly sent: number
  readonly delivered: number
  /** Sent and never received. */
  readonly lost: number
  /** Never sent because the run ended early (a session ended, or it stalled). */
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
  readonly durationMs: number
  readonly stanzasPerSecond: number
  readonly latencyMs: LatencySummary
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
  readonly seen: Uint8Array
  /** Stagger for paced sending, in messages (0 < offset < 1): sender s starts (1 − offset) intervals in. */
  readonly offset: number
}

/** Percentiles by nearest rank over the recorded values. */
export function summarise(values: Float64Array): LatencySummary {
  if (values.length === 0) return { p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN }
  const sorted = Float64Array.from(values).sort()
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? NaN
  let sum = 0
  for (const v of sorted) sum += v
  return { p50: rank(0.5), p90: rank(0.9), p99: rank(0.99), max: sorted[sorted.length - 1] ?? NaN, mean: sum / sorted.length }
}

/**
 * Run one exchange over `links` (pairs: links[2p] ⇄ links[2p+1]). Sender s is
 * links[s] sending to links[s ^ 1]. Resolves when every message arrived (plus
 * the grace period) or when nothing moved for `stallMs`.
 */
export function runExchange(links: readonly XmppLink[], options: ExchangeOptions): Promise<ExchangeResult> {
  if (links.length % 2 !== 0 || links.length === 0) throw new Error('runExchange needs an even, non-zero number of links')
  const { tag, messagesPerSender: perSender, bodyBytes, window } = options
  const senderCount = links.length
  const expected = senderCount * perSender
  const senders: SenderState[] = links.map((from, s) => ({
    from,
    to: s ^ 1,
    toJid: links[s ^ 1]!.jid,
    sent: 0,
    acked: 0,
    highest: -1,
    seen: new Uint8Array(perSender),
    offset: (s + 0.5) / senderCount,
  }))
  const latencies = new Float64Array(expected)
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
  const prefix = `${tag}:`
  const pacedPerSenderPerMs = options.ratePerSecond === undefined ? undefined : options.ratePerSecond / senderCount / 1000
  let start = 0

  const bodyFor = (s: number, seq: number, now: number): string => {
    const head = `${prefix}${s}:${seq}:${Math.round(now * 1000)}:`
    return head.length >= bodyBytes ? head : head + 'x'.repeat(bodyBytes - head.length)
  }

  const pump = (s: number, now: number): void => {
    const st = senders[s]!
    while (st.sent < perSender && st.sent - st.acked < window) {
      if (pacedPerSenderPerMs !== undefined && st.sent >= Math.floor((now - start) * pacedPerSenderPerMs + st.offset)) return
      const seq = st.sent++
      totalSent++
      lastProgress = now
      st.from.send(`<message to='${st.toJid}' type='chat' id='${tag}-${s}-${seq}'><body>${bodyFor(s, seq, now)}</body></message>`)
      now = performance.now()
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
    const sentAt = Number(body.slice(c + 1, d)) / 1000
    const st = senders[s]
    if (!st || b < 0 || c < 0 || d < 0 || !Number.isInteger(seq) || seq < 0 || seq >= perSender || !Number.isFinite(sentAt)) {
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
    latencies[delivered++] = now - sentAt
    st.acked++
    lastDelivery = now
    lastProgress = now
    if (delivered === expected) finishSoon()
    else pump(s, now)
  }

  let resolveRun!: (result: ExchangeResult) => void
  const done = new Promise<ExchangeResult>((resolve) => (resolveRun = resolve))
  let ticker: NodeJS.Timeout | undefined
  let finishing = false
  let stalled = false

  const finish = (): void => {
    clearInterval(watchdog)
    if (ticker) clearInterval(ticker)
    // Later elements (e.g. the next run's) are not this run's business.
    for (const link of links) link.attach({ element: () => {}, closed: () => {} })
    const durationMs = Math.max(0, lastDelivery - start)
    resolveRun({
      senders: senderCount,
      expected,
      sent: totalSent,
      delivered,
      lost: totalSent - delivered,
      notSent: expected - totalSent,
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
      latencyMs: summarise(latencies.subarray(0, delivered)),
      samples,
    })
  }
  const finishSoon = (): void => {
    if (finishing) return
    finishing = true
    if (ticker) clearInterval(ticker)
    setTimeout(finish, options.graceMs)
  }

  const watchdog = setInterval(() => {
    if (finishing) return
    if (performance.now() - lastProgress > options.stallMs) {
      stalled = true
      sample(`stalled: nothing sent or delivered for ${options.stallMs} ms with ${expected - delivered} messages outstanding`)
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

  start = performance.now()
  lastProgress = start
  for (let s = 0; s < senderCount; s++) pump(s, performance.now())
  if (pacedPerSenderPerMs !== undefined) {
    // Timers fire about once a millisecond at best; each tick sends what the schedule owes.
    ticker = setInterval(() => {
      const now = performance.now()
      let pending = false
      for (let s = 0; s < senderCount; s++) {
        pump(s, now)
        if (senders[s]!.sent < perSender) pending = true
      }
      if (!pending && ticker) clearInterval(ticker)
    }, 2)
  }
  return done
}
