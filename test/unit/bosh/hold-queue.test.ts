import t from 'tap'
import { HoldQueue } from '../../../src/core/bosh/hold-queue.js'

const r = (rid: number) => ({ rid })

t.test('XEP-0124 §8: beyond `hold`, the oldest held requests are released first', async (t) => {
  const q = new HoldQueue<{ rid: number }>(2)
  t.same(q.push(r(1)), [])
  t.same(q.push(r(2)), [])
  t.same(q.push(r(3)), [r(1)])
  t.same(q.push(r(4)), [r(2)])
  t.equal(q.size, 2)
  t.same(q.peek(), r(3))
})

t.test('XEP-0124 §12: hold=0 releases every request at once', async (t) => {
  const q = new HoldQueue<{ rid: number }>(0)
  t.same(q.push(r(7)), [r(7)])
  t.equal(q.size, 0)
})

t.test('held requests stay in rid order', async (t) => {
  const q = new HoldQueue<{ rid: number }>(3)
  q.push(r(1))
  q.push(r(2))
  q.push(r(3))
  t.throws(() => q.push(r(2)), 'never below the newest')
  t.same(q.find(2), r(2))
  t.same(q.takeThrough(2), [r(1), r(2)])
  t.same(q.shift(), r(3))
  t.equal(q.shift(), undefined)
  q.push(r(9))
  t.same(q.drain(), [r(9)])
  t.throws(() => new HoldQueue(-1))
})
