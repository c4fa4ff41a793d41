import t from 'tap'
import { MAX_REPEATS_PER_RID } from '../../../src/core/bosh/session.js'
import { BODY, Harness } from './fakes.js'

const MSG = (n: number) => `<message xmlns='jabber:client' id='m${n}'/>`
const SENT = (n: number) => `upstream send <message xmlns='jabber:client' id='m${n}'/>`

const HOLD2 = `to='example.com' rid='100' wait='30' hold='2' ver='1.11'`

function opened(options = {}, create?: string): Harness {
  const h = new Harness(create === undefined ? { options } : { options, create })
  h.open()
  h.mark()
  return h
}

t.test('XEP-0124 §14.2: payloads go upstream in rid order even when rid N+1 arrives first', async (t) => {
  const h = opened({ maxHold: 2, maxRequests: 3 }, HOLD2)
  const r102 = h.send(`rid='102'`, MSG(102))
  t.same(h.upstream.sent, [], 'rid 102 waits for 101')
  t.equal(r102.answered, false)
  const r101 = h.send(`rid='101'`, MSG(101))
  t.same(h.wire.log, [SENT(101), SENT(102)])
  t.equal(r101.answered, false, 'both held (hold=2)')
  t.equal(r102.answered, false)
})

t.test('XEP-0124 §14.2: a gap of two fills in order and the responses follow rid order', async (t) => {
  const h = opened({ maxHold: 2, maxRequests: 3 }, HOLD2)
  const r103 = h.send(`rid='103'`, MSG(103))
  const r102 = h.send(`rid='102'`, MSG(102))
  t.same(h.wire.log, [])
  const r101 = h.send(`rid='101'`, MSG(101))
  t.same(h.wire.log, [SENT(101), SENT(102), SENT(103), `reply rid=101 ${BODY}/>`])
  t.ok(r101.answered)
  t.equal(r102.answered || r103.answered, false, 'the two newest are held')
})

t.test('XEP-0124 §14.2: the window edge — last + requests is accepted, one more is item-not-found', async (t) => {
  const edge = opened()
  const r102 = edge.send(`rid='102'`)
  t.equal(r102.answered, false, 'rid 102 = 100 + requests(2) is queued')
  t.equal(edge.session.state, 'open')

  const beyond = opened()
  const r103 = beyond.send(`rid='103'`, MSG(103))
  t.equal(r103.body, `${BODY} type='terminate' condition='item-not-found'/>`)
  t.same(beyond.upstream.sent, [], 'nothing forwarded')
  t.equal(beyond.session.state, 'terminated')
  t.equal(beyond.upstream.closed, 1)
  t.same(beyond.ends, [{ reason: 'rid-out-of-window', condition: 'item-not-found', text: 'rid 103 above the window' }])
})

t.test('XEP-0124 §14.3: a repeated rid returns the cached response byte for byte, without a second delivery upstream', async (t) => {
  const h = opened()
  const first = h.send(`rid='101'`, MSG(101))
  h.fromServer(`<message from='a@example.com' id='reply'><body>hé</body></message>`)
  const original = first.body
  t.equal(original, `${BODY}><message xmlns='jabber:client' from='a@example.com' id='reply'><body>hé</body></message></body>`)
  const again = h.send(`rid='101'`, MSG(101), 'rid=101 again')
  t.equal(again.body, original)
  t.same(h.upstream.sent, [`<message xmlns='jabber:client' id='m101'/>`], 'delivered once')
  t.equal(h.counters.retransmissions, 1)
  t.equal(h.session.state, 'open')
})

t.test('XEP-0124 §14.3: the creation response is cached too', async (t) => {
  const h = new Harness()
  h.open()
  const again = h.send(`rid='100'`)
  t.equal(again.body, h.creation.body)
})

t.test('XEP-0124 §14.3: a repeated rid older than the cache is item-not-found', async (t) => {
  const h = opened()
  for (const rid of [101, 102, 103, 104]) h.send(`rid='${rid}'`, MSG(rid)) // each releases the one before
  // The cache holds requests(2) responses: 102 and 103.
  const stale = h.send(`rid='101'`, '', 'rid=101 again')
  t.equal(stale.body, `${BODY} type='terminate' condition='item-not-found'/>`)
  t.same(h.ends, [{ reason: 'response-unavailable', condition: 'item-not-found', text: 'no buffered response for rid 101' }])
})

t.test("XEP-0124 §14.3: a repeat of a request still held takes its place; the older one gets a recoverable type='error' at once", async (t) => {
  const h = opened()
  const first = h.send(`rid='101'`, MSG(101))
  const copy = h.send(`rid='101'`, MSG(101), 'rid=101 copy')
  t.equal(first.body, `${BODY} type='error'/>`, '§17.3 recoverable binding condition')
  t.equal(copy.answered, false)
  h.fromServer(`<presence from='b@example.com'/>`)
  t.equal(copy.body, `${BODY}><presence xmlns='jabber:client' from='b@example.com'/></body>`)
  t.same(h.upstream.sent, [`<message xmlns='jabber:client' id='m101'/>`], 'delivered once')
})

t.test('XEP-0124 §14.2, §14.3: a repeat of a queued request replaces it; it is processed once', async (t) => {
  const h = opened()
  const early = h.send(`rid='102'`, MSG(102))
  const copy = h.send(`rid='102'`, MSG(102), 'rid=102 copy')
  t.equal(early.body, `${BODY} type='error'/>`)
  h.send(`rid='101'`, MSG(101))
  t.same(h.upstream.sent, [`<message xmlns='jabber:client' id='m101'/>`, `<message xmlns='jabber:client' id='m102'/>`])
  t.equal(copy.answered, false, 'held in place of the original')
})

t.test('XEP-0124 §14.3: a client that keeps repeating one unanswered rid is ended with policy-violation', async (t) => {
  const h = opened()
  const copies = [h.send(`rid='101'`, MSG(101), 'rid=101 #0')]
  for (let i = 1; i <= MAX_REPEATS_PER_RID; i++) copies.push(h.send(`rid='101'`, MSG(101), `rid=101 #${i}`))
  t.equal(h.session.state, 'open', `${MAX_REPEATS_PER_RID} repeats are recovery`)
  t.same(copies.slice(0, -1).map((c) => c.body), new Array(MAX_REPEATS_PER_RID).fill(`${BODY} type='error'/>`), 'each displaced copy was told to retry')
  const abuse = h.send(`rid='101'`, MSG(101), 'rid=101 abuse')
  t.equal(abuse.body, `${BODY} type='terminate' condition='policy-violation'/>`)
  t.equal(copies.at(-1)?.body, `${BODY} type='terminate' condition='other-request'/>`)
  t.same(h.ends, [{ reason: 'rid-repeated', condition: 'policy-violation', text: `rid 101 repeated ${MAX_REPEATS_PER_RID + 1} times` }])
  t.same(h.upstream.sent, [`<message xmlns='jabber:client' id='m101'/>`], 'the payload went upstream once')
})

t.test('XEP-0124 §14.2: requests queued behind a rid that never arrives end the session after wait + inactivity', async (t) => {
  const h = opened()
  const r102 = h.send(`rid='102'`, MSG(102))
  h.clock.advance(89_999) // wait 30 s + inactivity 60 s
  t.equal(h.session.state, 'open')
  h.clock.advance(1)
  t.equal(r102.body, `${BODY} type='terminate' condition='item-not-found'/>`)
  t.same(h.upstream.sent, [], 'never processed out of order')
  t.same(h.ends, [{ reason: 'rid-gap', condition: 'item-not-found', text: 'rid 101 never arrived' }])
})

t.test('XEP-0124 §14.2: the gap timer stops once the gap fills', async (t) => {
  const h = opened()
  h.send(`rid='102'`, MSG(102))
  h.clock.advance(10_000)
  h.send(`rid='101'`, MSG(101))
  h.clock.advance(80_000)
  t.equal(h.ends.length, 0, 'no rid-gap')
})
