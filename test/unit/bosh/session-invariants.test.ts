import t from 'tap'
import { Harness, upstreamElement } from './fakes.js'
import type { RecordingResponder } from './fakes.js'

/** mulberry32: a seeded PRNG so every run explores the same sequences. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const XMPP = `xmlns:xmpp='urn:xmpp:xbosh'`

t.test('XEP-0124 §8: every request gets exactly one reply, whatever the interleaving', async (t) => {
  for (let seed = 1; seed <= 200; seed++) {
    const rand = prng(seed)
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T
    const hold = pick([0, 1, 2])
    const h = new Harness({
      options: { maxHold: 2, maxRequests: 3, coalesceMs: pick([0, 5]), maxPendingBytes: 2048 },
      create: `to='example.com' rid='1000' wait='${pick([0, 10, 30])}' hold='${hold}' ver='1.11' ack='${pick([0, 1])}'`,
    })
    const responders: RecordingResponder[] = [h.creation]
    let nextRid = 1001
    for (let step = 0; step < 60; step++) {
      const r = rand()
      if (r < 0.45) {
        const rid = rand() < 0.8 ? nextRid++ : nextRid + Math.floor(rand() * 6) - 4
        const extra = pick(['', '', '', ` type='terminate'`, ` pause='30'`, ` ${XMPP} xmpp:restart='true'`, ` ack='${rid - 2}'`, ` stream='x'`])
        const payload = rand() < 0.5 ? `<message xmlns='jabber:client' id='c${step}'/>` : ''
        responders.push(h.send(`rid='${rid}'${extra}`, payload, `rid=${rid}#${step}`))
      } else if (r < 0.65) {
        h.fromServer(`<message id='s${step}'><body>${'x'.repeat(Math.floor(rand() * 800))}</body></message>`)
      } else if (r < 0.72) {
        h.session.upstreamOpened({ id: `st${step}`, version: '1.0', secure: true }, upstreamElement(`<stream:features/>`))
      } else if (r < 0.74) {
        h.session.upstreamClosed(
          pick([{ kind: 'closed' as const }, { kind: 'failed' as const, cause: 'lost' as const, opened: true, text: 'gone' }, { kind: 'auth-timeout' as const }]),
        )
      } else {
        h.clock.advance(Math.floor(rand() * 40_000))
      }
    }
    h.session.shutdown()
    h.clock.advance(1_000_000)
    const unanswered = responders.filter((r) => !r.answered).map((r) => r.label)
    if (unanswered.length > 0 || h.counters.held !== 0 || h.session.heldCount !== 0) {
      t.fail(`seed ${seed}: unanswered ${unanswered.join(', ')}; held gauge ${h.counters.held}`, { log: h.wire.log })
      return
    }
    t.equal(h.ends.length, 1, `seed ${seed}: terminated exactly once`)
    t.equal(h.disposed, 1, `seed ${seed}: disposed exactly once`)
  }
})
