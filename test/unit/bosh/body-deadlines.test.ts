import t from 'tap'
import type { IncomingMessage } from 'node:http'
import { BodyDeadlines } from '../../../src/transports/bosh/body-deadlines.js'
import { ManualClock } from '../../support/manual-clock.js'

/** A request as the deadlines see it: whether its body has arrived, whether its connection is gone. */
function request(name: string): IncomingMessage & { name: string } {
  return { name, complete: false, socket: { destroyed: false } } as unknown as IncomingMessage & { name: string }
}

const TIMEOUT_MS = 10_000

t.test('a body that has not arrived within the timeout is answered; one that arrived is not', (t) => {
  const clock = new ManualClock()
  const expired: string[] = []
  const deadlines = new BodyDeadlines(clock, TIMEOUT_MS, (r) => expired.push((r as IncomingMessage & { name: string }).name))
  const slow = request('slow')
  const quick = request('quick')
  deadlines.started(slow)
  clock.advance(4_000)
  deadlines.started(quick)
  deadlines.finished(quick)
  t.equal(deadlines.pending, 1, 'only the slow body is still awaited')
  clock.advance(5_999)
  t.same(expired, [], 'not before the timeout')
  clock.advance(1)
  t.same(expired, ['slow'], 'at the timeout exactly')
  t.equal(deadlines.pending, 0)
  t.equal(clock.pending, 0, 'no timer left once nothing is awaited')
  t.end()
})

t.test('deadlines fall in arrival order: one timer serves them all, each at its own time', (t) => {
  const clock = new ManualClock()
  const expired: Array<[string, number]> = []
  const deadlines = new BodyDeadlines(clock, TIMEOUT_MS, (r) => expired.push([(r as IncomingMessage & { name: string }).name, clock.now()]))
  const start = clock.now()
  deadlines.started(request('a'))
  clock.advance(3_000)
  deadlines.started(request('b'))
  clock.advance(3_000)
  deadlines.started(request('c'))
  t.equal(clock.pending, 1, 'one timer for three requests')
  clock.advance(20_000)
  t.same(
    expired.map(([name, at]) => [name, at - start]),
    [
      ['a', 10_000],
      ['b', 13_000],
      ['c', 16_000],
    ],
  )
  t.end()
})

t.test('a body that completed, or a connection that went away, is not answered at its deadline', (t) => {
  const clock = new ManualClock()
  const expired: string[] = []
  const deadlines = new BodyDeadlines(clock, TIMEOUT_MS, (r) => expired.push((r as IncomingMessage & { name: string }).name))
  const complete = request('complete')
  const gone = request('gone')
  const late = request('late')
  deadlines.started(complete)
  deadlines.started(gone)
  deadlines.started(late)
  ;(complete as { complete: boolean }).complete = true
  ;(gone.socket as { destroyed: boolean }).destroyed = true
  clock.advance(TIMEOUT_MS)
  t.same(expired, ['late'])
  t.equal(deadlines.pending, 0, 'all three forgotten')
  t.end()
})

t.test('close() forgets everything and stops the timer', (t) => {
  const clock = new ManualClock()
  const expired: string[] = []
  const deadlines = new BodyDeadlines(clock, TIMEOUT_MS, (r) => expired.push((r as IncomingMessage & { name: string }).name))
  deadlines.started(request('a'))
  deadlines.close()
  t.equal(clock.pending, 0)
  clock.advance(TIMEOUT_MS * 2)
  t.same(expired, [])
  deadlines.started(request('b'))
  clock.advance(TIMEOUT_MS)
  t.same(expired, ['b'], 'usable again after close')
  t.end()
})
