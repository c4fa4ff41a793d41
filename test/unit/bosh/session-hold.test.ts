import t from 'tap'
import { BODY, Harness, RecordingResponder, parse, wrap } from './fakes.js'
import type { SessionRequest } from '../../../src/core/bosh/body.js'

const MSG = (n: number) => `<message xmlns='jabber:client' id='m${n}'/>`
const EMPTY = `${BODY}/>`
const TERMINATE = (condition: string) => `${BODY} type='terminate' condition='${condition}'/>`

function opened(init: ConstructorParameters<typeof Harness>[0] = {}): Harness {
  const h = new Harness(init)
  h.open()
  h.mark()
  return h
}

t.test('XEP-0124 §8: beyond hold=1 the older request is released with an empty body', async (t) => {
  const h = opened()
  const r101 = h.send(`rid='101'`)
  t.equal(r101.answered, false)
  h.send(`rid='102'`, MSG(102))
  t.same(h.wire.log, [`upstream send <message xmlns='jabber:client' id='m102'/>`, `reply rid=101 ${EMPTY}`])
  t.equal(h.session.heldCount, 1)
  t.equal(h.counters.held, 1, 'the held-requests gauge follows')
})

t.test('XEP-0124 §8: with hold=2 releases go oldest first', async (t) => {
  const h = opened({ options: { maxHold: 2, maxRequests: 3 }, create: `to='example.com' rid='100' wait='30' hold='2' ver='1.11'` })
  h.send(`rid='101'`, MSG(101))
  h.send(`rid='102'`, MSG(102))
  h.send(`rid='103'`, MSG(103))
  h.send(`rid='104'`, MSG(104))
  t.same(
    h.wire.log.filter((line) => line.startsWith('reply')),
    [`reply rid=101 ${EMPTY}`, `reply rid=102 ${EMPTY}`],
  )
  t.equal(h.session.heldCount, 2)
})

t.test('XEP-0124 §8: a held request is answered with upstream data after the coalescing delay, batched', async (t) => {
  const h = opened({ options: { coalesceMs: 5 } })
  const r = h.send(`rid='101'`)
  h.fromServer(`<message from='a@example.com' id='1'/>`)
  h.clock.advance(4)
  h.fromServer(`<message from='a@example.com' id='2'/>`)
  t.equal(r.answered, false, 'still coalescing')
  h.clock.advance(1)
  t.equal(r.body, `${BODY}><message xmlns='jabber:client' from='a@example.com' id='1'/><message xmlns='jabber:client' from='a@example.com' id='2'/></body>`)
})

t.test('XEP-0124 §8: with coalesceMs=0 upstream data is answered at once', async (t) => {
  const h = opened()
  const r = h.send(`rid='101'`)
  h.fromServer(`<iq type='result' id='x'/>`)
  t.equal(r.body, `${BODY}><iq xmlns='jabber:client' type='result' id='x'/></body>`)
})

t.test('XEP-0124 §8: a burst reaching maxPendingBytes is flushed without waiting for the delay', async (t) => {
  const h = opened({ options: { coalesceMs: 50, maxPendingBytes: 1024 } })
  const r = h.send(`rid='101'`)
  h.fromServer(`<message><body>${'x'.repeat(1100)}</body></message>`)
  t.ok(r.answered)
})

t.test('XEP-0124 §8: a held request gets an empty body when wait expires', async (t) => {
  const h = opened()
  const r = h.send(`rid='101'`)
  h.clock.advance(29_999)
  t.equal(r.answered, false)
  h.clock.advance(1)
  t.equal(r.body, EMPTY)
  t.equal(h.session.heldCount, 0)
  t.equal(h.counters.held, 0)
})

t.test('XEP-0124 §8: stanzas arriving with no request held wait for the next request', async (t) => {
  const h = opened()
  h.clock.advance(30_000) // nothing held now
  h.fromServer(`<message id='a'/><message id='b'/>`)
  t.equal(h.session.pendingBytes, 2 * `<message xmlns='jabber:client' id='a'/>`.length)
  const r = h.send(`rid='101'`)
  t.equal(r.body, `${BODY}><message xmlns='jabber:client' id='a'/><message xmlns='jabber:client' id='b'/></body>`)
  t.equal(h.session.pendingBytes, 0)
})

t.test('maxPendingBytes: too much output waiting for an absent client ends the session with policy-violation', async (t) => {
  const h = opened({ options: { maxPendingBytes: 1024 } })
  h.fromServer(`<message><body>${'x'.repeat(600)}</body></message>`)
  t.equal(h.session.state, 'open')
  h.fromServer(`<message><body>${'y'.repeat(600)}</body></message>`)
  t.equal(h.session.state, 'terminated')
  t.same(h.ends, [{ reason: 'pending-overflow', condition: 'policy-violation', text: 'more than 1024 bytes waiting for a request' }])
  t.equal(h.upstream.closed, 1)
  const late = h.send(`rid='101'`)
  t.equal(late.body, TERMINATE('policy-violation'), 'the client learns why on its next request')
  t.equal(h.disposed, 1)
})

t.test('XEP-0124 §11: more simultaneous requests than `requests` is policy-violation', async (t) => {
  const h = opened()
  const r101 = h.send(`rid='101'`, MSG(101)) // held
  h.clock.advance(30_000) // 101 answered by wait; nothing outstanding
  t.ok(r101.answered)
  const r103 = h.send(`rid='103'`, MSG(103)) // queued, gap at 102
  const r102 = h.send(`rid='102'`, MSG(102)) // fills the gap: 102 held, 103 processed → 102 released
  t.ok(r102.answered)
  t.equal(r103.answered, false)
  h.mark()
  const r105 = h.send(`rid='105'`, MSG(105)) // queued: 103 held + 105 queued = 2 = requests
  t.equal(r105.answered, false)
  const r104 = h.send(`rid='104'`, MSG(104)) // a third simultaneous request
  t.same(h.wire.log, [
    `reply rid=103 ${TERMINATE('other-request')}`,
    `reply rid=104 ${TERMINATE('policy-violation')}`,
    `reply rid=105 ${TERMINATE('other-request')}`,
    'upstream close',
  ])
  t.ok(r104.answered)
  t.same(h.ends, [{ reason: 'overactivity', condition: 'policy-violation', text: 'too many simultaneous requests' }])
})

t.test('XEP-0124 §11: one extra request is allowed when it pauses or terminates', async (t) => {
  const h = opened()
  h.send(`rid='101'`, MSG(101)) // held
  h.send(`rid='103'`, MSG(103)) // queued
  h.mark()
  h.send(`rid='102' type='terminate'`) // the third simultaneous request, allowed because it terminates
  t.same(h.wire.log, [
    `reply rid=101 ${EMPTY}`,
    `reply rid=102 ${BODY} type='terminate'/>`,
    `reply rid=103 ${TERMINATE('other-request')}`,
    'upstream close',
  ])
  t.same(h.ends.map((e) => e.reason), ['client-close'])

  const p = opened()
  p.send(`rid='101'`, MSG(101)) // held
  p.send(`rid='103'`, MSG(103)) // queued
  const pause = p.send(`rid='102' pause='60'`)
  t.equal(pause.body, EMPTY)
  t.equal(p.session.state, 'open')
})

t.test('XEP-0124 §11: empty requests that keep every slot busy faster than `polling` are policy-violation', async (t) => {
  const h = opened()
  const r101 = h.send(`rid='101'`) // held, empty
  h.clock.advance(1_999)
  const r102 = h.send(`rid='102'`) // empty, 2 unanswered = requests, within polling
  t.equal(r101.body, TERMINATE('other-request'))
  t.equal(r102.body, TERMINATE('policy-violation'))
  t.same(h.ends, [{ reason: 'too-frequent', condition: 'policy-violation', text: 'requests faster than the polling interval' }])

  const slow = opened()
  slow.send(`rid='101'`)
  slow.clock.advance(2_000)
  slow.send(`rid='102'`)
  t.equal(slow.session.state, 'open', 'at the polling interval it is fine')

  const busy = opened()
  busy.send(`rid='101'`)
  busy.send(`rid='102'`, MSG(102))
  t.equal(busy.session.state, 'open', 'a request with payload is never too frequent')
})

/** A polling session whose features were collected by rid 101, two seconds ago. */
function polling(): Harness {
  const h = opened({ create: `to='example.com' rid='100' wait='30' hold='0' ver='1.11'` })
  h.clock.advance(2_000)
  h.send(`rid='101'`)
  h.clock.advance(2_000)
  h.mark()
  return h
}

t.test('XEP-0124 §12: a polling client (hold=0) polling faster than `polling` after an empty response is policy-violation', async (t) => {
  const h = polling()
  const first = h.send(`rid='102'`)
  t.equal(first.body, EMPTY)
  h.clock.advance(1_999)
  const second = h.send(`rid='103'`)
  t.equal(second.body, TERMINATE('policy-violation'))
  t.same(h.ends.map((e) => e.reason), ['too-frequent'])
})

t.test('XEP-0124 §12: a quick poll after a response that carried payloads is fine', async (t) => {
  const h = polling()
  h.fromServer(`<message id='x'/>`)
  const first = h.send(`rid='102'`)
  t.equal(first.body, `${BODY}><message xmlns='jabber:client' id='x'/></body>`)
  h.clock.advance(100)
  const second = h.send(`rid='103'`)
  t.equal(second.body, EMPTY)
  h.clock.advance(2_000)
  t.equal(h.send(`rid='104'`).body, EMPTY, 'polling at the interval is fine')
  t.equal(h.session.state, 'open')
})

/** A responder whose HTTP connection the test can close before it is answered. */
class ClosableResponder extends RecordingResponder {
  #gone: (() => void) | undefined
  whenGone(gone: () => void): void {
    this.#gone = gone
  }
  closeConnection(): void {
    this.#gone?.()
  }
}

function sendClosable(h: Harness, attrs: string, children = ''): ClosableResponder {
  const request = parse(wrap(`sid='${h.sid}' ${attrs}`, children)) as SessionRequest
  const responder = new ClosableResponder(`rid=${request.rid}`, h.wire)
  h.session.handleRequest(request, responder)
  return responder
}

t.test('a held request whose connection closes is answered empty; the next stanza waits for a live request', async (t) => {
  const h = opened()
  const r101 = sendClosable(h, `rid='101'`)
  t.equal(h.session.heldCount, 1)
  r101.closeConnection()
  t.same(h.wire.log, [`reply rid=101 ${EMPTY}`], 'answered at once, with nothing in it')
  t.equal(h.session.heldCount, 0)
  t.equal(h.counters.held, 0, 'the held-requests gauge follows')

  // The server's message arrives during the gap (a page reloading): it is kept, not lost.
  h.fromServer(MSG(1))
  t.equal(h.session.pendingBytes > 0, true, 'kept pending')
  const r102 = h.send(`rid='102'`)
  t.equal(r102.body, `${BODY}>${MSG(1)}</body>`, 'the next request carries it')

  // A retransmission of the abandoned rid gets its (empty) cached answer, not item-not-found.
  const again = h.send(`rid='101'`, '', 'rid=101 again')
  t.equal(again.body, EMPTY)
  t.equal(h.counters.retransmissions, 1)
})

t.test('a connection closing after its request was answered changes nothing', async (t) => {
  const h = opened()
  const r101 = sendClosable(h, `rid='101'`)
  h.fromServer(MSG(1))
  t.match(r101.body, /m1/)
  h.mark()
  r101.closeConnection()
  t.same(h.wire.log, [], 'no second answer')
  const r102 = h.send(`rid='102'`)
  t.equal(r102.answered, false, 'the next request is held as usual')
})

t.test('with hold=2, the closed one goes and the live one still gets the data', async (t) => {
  const h = opened({ options: { maxHold: 2, maxRequests: 3 }, create: `to='example.com' rid='100' wait='30' hold='2' ver='1.11'` })
  const r101 = sendClosable(h, `rid='101'`)
  const r102 = h.send(`rid='102'`)
  r101.closeConnection()
  t.equal(r101.body, EMPTY)
  h.fromServer(MSG(7))
  t.match(r102.body, /m7/, 'delivered on the request someone waits for')
})
