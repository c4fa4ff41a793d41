import t from 'tap'
import { BODY, Harness } from './fakes.js'

const EMPTY = `${BODY}/>`

function opened(options = {}): Harness {
  // Pre-auth expiry is tested elsewhere; keep it out of the way here.
  const h = new Harness({ options, create: `to='example.com' rid='100' wait='60' hold='1' ver='1.11'` })
  h.open()
  h.mark()
  return h
}

t.test('XEP-0124 §10: the inactivity clock runs only while no request is held', async (t) => {
  const h = opened({ inactivityMs: 10_000 })
  const r101 = h.send(`rid='101'`)
  h.clock.advance(59_999) // held far longer than the inactivity period
  t.equal(h.session.state, 'open')
  h.clock.advance(1) // wait expires: now nothing is held
  t.equal(r101.body, EMPTY)
  h.clock.advance(9_999)
  t.equal(h.session.state, 'open')
  h.clock.advance(1)
  t.equal(h.session.state, 'terminated')
  t.same(h.ends, [{ reason: 'inactivity' }])
  t.same(h.wire.log, [`reply rid=101 ${EMPTY}`, 'upstream close'])
  t.equal(h.disposed, 1, 'gone at once: §10 "respond as if the session does not exist"')
  t.equal(h.observer.terminations.get('normal'), 1)
})

t.test('XEP-0124 §10: every request restarts the inactivity period', async (t) => {
  const h = opened({ inactivityMs: 10_000 })
  h.clock.advance(9_000)
  h.send(`rid='101' pause='10'`) // answered at once; the clock starts over
  h.clock.advance(9_000)
  t.equal(h.session.state, 'open')
})

t.test('XEP-0124 §10: a pause answers every held request at once, the pause response carries no payload', async (t) => {
  const h = opened()
  const r101 = h.send(`rid='101'`)
  h.clock.advance(30_000)
  const r102 = h.send(`rid='102'`, `<message xmlns='jabber:client' id='x'/>`) // releases 101
  t.equal(r101.body, EMPTY)
  h.clock.advance(3_000)
  h.send(`rid='103' pause='60'`, '', 'pause')
  t.same(h.wire.log.filter((l) => l.startsWith('reply')), [`reply rid=101 ${EMPTY}`, `reply rid=102 ${EMPTY}`, `reply pause ${EMPTY}`])
  t.ok(r102.answered)
  h.fromServer(`<message id='while-paused'/>`)
  t.equal(h.session.pendingBytes > 0, true, 'output waits for the client to come back')
  h.clock.advance(59_999)
  t.equal(h.session.state, 'open', 'the pause stretches the inactivity period')
  const back = h.send(`rid='104'`)
  t.equal(back.body, `${BODY}><message xmlns='jabber:client' id='while-paused'/></body>`)
})

t.test('XEP-0124 §10: a pause expiring ends the session', async (t) => {
  const h = opened()
  h.send(`rid='101' pause='90'`)
  h.clock.advance(89_999)
  t.equal(h.session.state, 'open')
  h.clock.advance(1)
  t.equal(h.session.state, 'terminated')
  t.same(h.ends, [{ reason: 'inactivity' }])
})

t.test('XEP-0124 §10: the next request restores the normal inactivity period', async (t) => {
  const h = opened()
  h.send(`rid='101' pause='120'`)
  h.clock.advance(100_000)
  h.send(`rid='102' pause='5'`) // a shorter pause is allowed too
  h.clock.advance(5_000)
  t.equal(h.session.state, 'terminated')

  const back = opened({ inactivityMs: 10_000 })
  back.send(`rid='101' pause='120'`)
  back.clock.advance(100_000)
  back.send(`rid='102'`)
  back.clock.advance(60_000) // wait expires
  back.clock.advance(10_000) // normal inactivity again
  t.equal(back.session.state, 'terminated')
})

t.test('XEP-0124 §10: a pause above maxpause is policy-violation', async (t) => {
  const h = opened()
  const r101 = h.send(`rid='101'`)
  const pause = h.send(`rid='102' pause='121'`)
  t.equal(r101.body, `${BODY} type='terminate' condition='other-request'/>`)
  t.equal(pause.body, `${BODY} type='terminate' condition='policy-violation'/>`)
  t.same(h.ends, [{ reason: 'pause-too-long', condition: 'policy-violation', text: 'pause 121s above maxpause' }])
})

t.test("XEP-0124 §10: with no maxpause offered, any pause is policy-violation", async (t) => {
  const h = opened({ maxPauseMs: 0 })
  const pause = h.send(`rid='101' pause='1'`)
  t.equal(pause.body, `${BODY} type='terminate' condition='policy-violation'/>`)
})

t.test('XEP-0124 §14.3: a pause response is not buffered, so repeating it is item-not-found', async (t) => {
  const h = opened()
  h.send(`rid='101' pause='60'`)
  const again = h.send(`rid='101' pause='60'`, '', 'again')
  t.equal(again.body, `${BODY} type='terminate' condition='item-not-found'/>`)
})
