/**
 * The soak: many mixed BOSH and WebSocket sessions through one Causeway
 * (a child process) for a while, with steady messaging, random client drops
 * and one upstream restart. It counts every message: delivered, lost,
 * duplicated; and samples Causeway's RSS and event-loop lag.
 *
 * What "lost" means: XMPP without stream management may lose a message to a
 * client whose connection dies, so a message is *expected* only if neither
 * its sender nor its recipient reconnected between its sending and the
 * moment it is judged: JUDGE_AFTER_MS after it was sent (so long runs judge
 * most messages, not only those whose endpoints never dropped), or at the
 * end of the run. Every expected message must arrive exactly once; one that
 * arrives after being judged lost is counted as late and as delivered.
 */
import { startProsody } from '../test/helpers/prosody.js'
import { startCausewayProcess, metricValue } from './causeway-process.js'
import type { CausewayProcess } from './causeway-process.js'
import { memory } from './procstat.js'
import { XmppLink } from './xmpp-link.js'
import type { LinkKind } from './xmpp-link.js'

export interface SoakOptions {
  /** Sessions in all, half over WebSocket and half over BOSH. */
  readonly sessions: number
  readonly seconds: number
  /** Messages per second, all sessions together. */
  readonly rate: number
  /** A random client is dropped (and reconnects) this often, ms; 0 = never. */
  readonly dropEveryMs: number
  /** Restart the upstream server once, halfway. */
  readonly restartUpstream: boolean
  /** Logins in flight at once while connecting. */
  readonly loginConcurrency: number
  readonly log: (line: string) => void
}

export interface SoakSample {
  readonly second: number
  readonly online: number
  readonly sent: number
  readonly received: number
  readonly rssMiB: number | undefined
  readonly lagP99Ms: number | undefined
}

export interface SoakResult {
  readonly sent: number
  readonly expected: number
  readonly delivered: number
  readonly lost: number
  readonly duplicated: number
  /** Judged lost at JUDGE_AFTER_MS, arrived afterwards (counted as delivered). */
  readonly late: number
  readonly drops: number
  readonly reconnects: number
  readonly samples: readonly SoakSample[]
  readonly causewayExit: { code: number | null; signal: NodeJS.Signals | null } | undefined
}

interface Peer {
  readonly index: number
  readonly kind: LinkKind
  readonly username: string
  link: XmppLink | undefined
  /** Bumped on every (re)connect: messages are only expected within one epoch. */
  epoch: number
  connecting: boolean
}

interface Sent {
  readonly to: number
  readonly from: number
  readonly toEpoch: number
  readonly fromEpoch: number
  readonly sentAt: number
  received: number
  /** Judged at a checkpoint: 'delivered', 'lost', or not expected ('void'). */
  verdict?: 'delivered' | 'lost' | 'void'
}

/** A message still undelivered this long after sending, both ends connected throughout, is lost. */
const JUDGE_AFTER_MS = 30_000

const PASSWORD = 'soak-pw'
const DOMAIN = 'localhost'

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const { log } = options
  const users = Array.from({ length: options.sessions }, (_, i) => ({ username: `s${i}`, password: PASSWORD }))
  // Registering accounts with prosodyctl takes a while for thousands of users.
  const prosody = await startProsody({ users, scramIterations: 100, logLevel: 'info', startTimeoutMs: 30_000 + options.sessions * 150 })
  let causeway: CausewayProcess | undefined
  const peers: Peer[] = users.map((u, index) => ({ index, kind: index % 2 === 0 ? 'ws' : 'bosh', username: u.username, link: undefined, epoch: 0, connecting: false }))
  const sent = new Map<string, Sent>()
  let stray = 0
  let late = 0
  let drops = 0
  let reconnects = 0
  let stopping = false
  const samples: SoakSample[] = []
  let received = 0

  try {
    causeway = await startCausewayProcess({
      upstreamPort: prosody.c2sPort,
      sessions: options.sessions * 2,
      extraArgs: ['--pre-auth-timeout-ms', '600000', '--log-level', 'warn'],
    })
    const cw = causeway

    const connect = async (peer: Peer): Promise<void> => {
      if (peer.connecting || stopping) return
      peer.connecting = true
      try {
        for (let attempt = 0; attempt < 20 && !stopping; attempt++) {
          try {
            const link = await XmppLink.login({
              kind: peer.kind,
              url: peer.kind === 'ws' ? cw.wsUrl : cw.boshUrl,
              domain: DOMAIN,
              username: peer.username,
              password: PASSWORD,
              resource: 'soak',
              timeoutMs: 20_000,
            })
            peer.epoch += 1
            const epoch = peer.epoch
            peer.link = link
            link.attach({
              element: (element) => {
                if (element.getName() !== 'message') return
                const id = element.attrs.id
                const record = id === undefined ? undefined : sent.get(id)
                if (!record || record.to !== peer.index) {
                  stray += 1
                  return
                }
                record.received += 1
                received += 1
                if (record.verdict === 'lost') {
                  record.verdict = 'delivered'
                  late += 1
                }
              },
              closed: () => {
                if (peer.link === link) peer.link = undefined
                // Reconnect unless we are done; the epoch moves on either way.
                if (!stopping && peer.epoch === epoch) setTimeout(() => void connect(peer).then(() => reconnects++), 200 + Math.random() * 500)
              },
            })
            return
          } catch {
            await new Promise((resolve) => setTimeout(resolve, 250 * (attempt + 1)))
          }
        }
      } finally {
        peer.connecting = false
      }
    }

    log(`connecting ${options.sessions} sessions (${Math.ceil(options.sessions / 2)} WebSocket, ${Math.floor(options.sessions / 2)} BOSH)…`)
    const queue = [...peers]
    await Promise.all(
      Array.from({ length: Math.max(1, options.loginConcurrency) }, async () => {
        for (let peer = queue.shift(); peer; peer = queue.shift()) await connect(peer)
      }),
    )
    const online = () => peers.filter((p) => p.link && !p.link.ended).length
    log(`${online()} sessions online`)

    let messageNumber = 0
    const started = Date.now()
    const sendOne = () => {
      const live = peers.filter((p) => p.link && !p.link.ended)
      if (live.length < 2) return
      const from = live[Math.floor(Math.random() * live.length)] as Peer
      let to = live[Math.floor(Math.random() * live.length)] as Peer
      if (to === from) to = live[(live.indexOf(from) + 1) % live.length] as Peer
      const id = `m${++messageNumber}`
      sent.set(id, { to: to.index, from: from.index, toEpoch: to.epoch, fromEpoch: from.epoch, sentAt: Date.now(), received: 0 })
      from.link?.send(`<message to='${to.username}@${DOMAIN}/soak' type='chat' id='${id}'><body>soak ${id} ✓ &lt;&amp;&gt;</body></message>`)
    }
    const perTick = options.rate / 20
    /** Sending pauses around the upstream restart. */
    let quiet = false
    let carry = 0
    const sender = setInterval(() => {
      if (quiet) return
      carry += perTick
      for (; carry >= 1; carry--) sendOne()
    }, 50)
    const dropper =
      options.dropEveryMs > 0
        ? setInterval(() => {
            const live = peers.filter((p) => p.link && !p.link.ended)
            const victim = live[Math.floor(Math.random() * live.length)]
            const link = victim?.link
            if (!victim || !link) return
            drops += 1
            // The client vanishes: nothing more is expected in its current epoch.
            victim.link = undefined
            victim.epoch += 1
            link.destroy()
            setTimeout(() => void connect(victim).then(() => reconnects++), 300 + Math.random() * 700)
          }, options.dropEveryMs)
        : undefined
    let restarted = false
    const sampler = setInterval(() => {
      void (async () => {
        const second = Math.round((Date.now() - started) / 1000)
        const text = await cw.metrics().catch(() => '')
        const lag = metricValue(text, 'nodejs_eventloop_lag_p99_seconds')
        const rss = memory(cw.pid)?.rssKiB
        const sample = {
          second,
          online: online(),
          sent: sent.size,
          received,
          rssMiB: rss === undefined ? undefined : rss / 1024,
          lagP99Ms: lag === undefined ? undefined : lag * 1000,
        }
        samples.push(sample)
        log(
          `t=${String(second).padStart(4)}s online=${sample.online} sent=${sample.sent} received=${sample.received} ` +
            `rss=${sample.rssMiB?.toFixed(1) ?? '?'} MiB lag_p99=${sample.lagP99Ms?.toFixed(1) ?? '?'} ms`,
        )
      })()
    }, 1000)

    /** Judge every message not judged yet (sent at least `olderThanMs` ago), against the epochs as they are now. */
    const settle = (olderThanMs = 0) => {
      const cutoff = Date.now() - olderThanMs
      for (const record of sent.values()) {
        if (record.verdict || record.sentAt > cutoff) continue
        const stable = peers[record.to]?.epoch === record.toEpoch && peers[record.from]?.epoch === record.fromEpoch
        record.verdict = !stable ? 'void' : record.received >= 1 ? 'delivered' : 'lost'
      }
    }
    const judge = setInterval(() => settle(JUDGE_AFTER_MS), 5000).unref()
    const halfway = (options.seconds * 1000) / 2
    while (Date.now() - started < options.seconds * 1000) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      if (options.restartUpstream && !restarted && Date.now() - started >= halfway) {
        restarted = true
        // Quiesce and judge what was sent so far, or the restart would void it all.
        quiet = true
        await new Promise((resolve) => setTimeout(resolve, 2000))
        settle()
        log('restarting the upstream server…')
        await prosody.restart()
        log('upstream server back')
        quiet = false
      }
    }
    clearInterval(sender)
    clearInterval(judge)
    if (dropper) clearInterval(dropper)
    // Let the last messages arrive, then judge with the epochs frozen.
    await new Promise((resolve) => setTimeout(resolve, 3000))
    clearInterval(sampler)
    stopping = true
    settle()

    let expected = 0
    let delivered = 0
    let lost = 0
    let duplicated = stray
    for (const record of sent.values()) {
      if (record.received > 1) duplicated += record.received - 1
      if (record.verdict === 'void') continue
      expected += 1
      if (record.verdict === 'delivered') delivered += 1
      else lost += 1
    }
    for (const peer of peers) peer.link?.destroy()
    const causewayExit = cw.exitStatus()
    return { sent: sent.size, expected, delivered, lost, duplicated, late, drops, reconnects, samples, causewayExit }
  } finally {
    stopping = true
    for (const peer of peers) peer.link?.destroy()
    await causeway?.stop(5000).catch(() => undefined)
    await prosody.stop()
  }
}
