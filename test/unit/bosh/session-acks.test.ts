import t from 'tap'
import { BODY, Harness } from './fakes.js'

const ACKING = `to='example.com' rid='100' wait='30' hold='1' ver='1.11' ack='1'`
const MSG = (n: number) => `<message xmlns='jabber:client' id='m${n}'/>`

function opened(create = ACKING, options = {}): Harness {
  const h = new Harness({ create, options })
  h.open()
  h.mark()
  return h
}

t.test("XEP-0124 §9.1: with acks, the creation response's ack is the creation rid", async (t) => {
  const h = opened()
  t.match(h.creation.body, ` ack='100' `)
})

t.test('XEP-0124 §9.1: a response to a request that is not the highest rid received acks the highest in-order rid', async (t) => {
  const h = opened()
  const r101 = h.send(`rid='101'`)
  const r102 = h.send(`rid='102'`, MSG(102))
  t.equal(r101.body, `${BODY} ack='102'/>`)
  h.clock.advance(30_000)
  t.equal(r102.body, `${BODY}/>`, 'no ack when it would equal the rid being answered')
})

t.test('XEP-0124 §9.1: an out-of-order rid is not acknowledged until the gap fills', async (t) => {
  const h = opened()
  const r101 = h.send(`rid='101'`)
  h.send(`rid='103'`, MSG(103)) // queued
  h.clock.advance(30_000)
  t.equal(r101.body, `${BODY}/>`, '103 was received but 102 was not: the ack stays at 101')
})

t.test('XEP-0124 §9.1: without ack=1 at creation no response carries ack', async (t) => {
  const h = opened(`to='example.com' rid='100' wait='30' hold='1' ver='1.11'`)
  t.notMatch(h.creation.body, 'ack=')
  const r101 = h.send(`rid='101'`)
  h.send(`rid='102'`, MSG(102))
  t.equal(r101.body, `${BODY}/>`)
})

t.test("XEP-0124 §9.2: a client ack below our last response gets an immediate response with report and time", async (t) => {
  const h = opened()
  const r101 = h.send(`rid='101'`)
  h.fromServer(`<message id='lost'/>`)
  t.equal(r101.body, `${BODY}><message xmlns='jabber:client' id='lost'/></body>`)
  h.clock.advance(1_500)
  // The client never saw 101's response: it still acks 100.
  const r102 = h.send(`rid='102' ack='100'`)
  t.equal(r102.body, `${BODY} report='101' time='1500'/>`, 'answered at once, not held')
  const resent = h.send(`rid='101'`, '', 'rid=101 resent')
  t.equal(resent.body, r101.body, 'the client can then fetch the missing response')
})

t.test('XEP-0124 §9.2: a report is not sent for an ack that merely crossed the response in flight', async (t) => {
  const h = opened()
  h.send(`rid='101'`)
  h.fromServer(`<message id='x'/>`)
  h.clock.advance(200) // below ackReportAfterMs (1000)
  const r102 = h.send(`rid='102' ack='100'`)
  t.equal(r102.answered, false, 'held as usual')
})

t.test('XEP-0124 §9.2 report goes on the next response, even a released older one', async (t) => {
  const h = opened()
  h.send(`rid='101'`)
  h.fromServer(`<message id='x'/>`) // answers 101
  const r102 = h.send(`rid='102'`, MSG(102)) // held
  h.clock.advance(5_000)
  h.send(`rid='103' ack='100'`, MSG(103)) // releases 102, which carries the report
  t.equal(r102.body, `${BODY} ack='103' report='101' time='5000'/>`)
})

t.test('XEP-0124 §14.3: responses the client acknowledged leave the cache', async (t) => {
  const h = opened()
  const r101 = h.send(`rid='101'`)
  h.fromServer(`<message id='x'/>`)
  t.ok(r101.answered)
  h.send(`rid='102' ack='101'`)
  const late = h.send(`rid='101'`, '', 'rid=101 again')
  t.equal(late.body, `${BODY} type='terminate' condition='item-not-found'/>`)
})
