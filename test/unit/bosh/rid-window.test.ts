import t from 'tap'
import { RidWindow } from '../../../src/core/bosh/rid-window.js'

t.test('XEP-0124 §14.2: the window is the `requests` rids above the last processed one', async (t) => {
  const w = new RidWindow<string>(100, 2)
  t.equal(w.classify(100), 'seen', 'the last processed rid is a repeat')
  t.equal(w.classify(1), 'seen')
  t.equal(w.classify(101), 'next')
  t.equal(w.classify(102), 'ahead', 'last + requests is the top edge')
  t.equal(w.classify(103), 'beyond', 'last + requests + 1 is outside')
})

t.test('XEP-0124 §14.2: an early rid waits until the gap before it fills', async (t) => {
  const w = new RidWindow<string>(10, 3)
  w.enqueue(13, 'c')
  w.enqueue(12, 'b')
  t.equal(w.queuedCount, 2)
  t.equal(w.classify(12), 'queued')
  t.equal(w.takeNext(), undefined, '11 is still missing')
  w.accept(11)
  t.equal(w.takeNext(), 'b')
  t.equal(w.takeNext(), 'c')
  t.equal(w.takeNext(), undefined)
  t.equal(w.last, 13)
  t.equal(w.classify(16), 'ahead', 'the window slides with the last processed rid')
  t.equal(w.classify(17), 'beyond')
})

t.test('a retransmitted queued rid replaces the parked copy', async (t) => {
  const w = new RidWindow<string>(10, 2)
  w.enqueue(12, 'first')
  t.equal(w.replace(12, 'second'), 'first')
  t.equal(w.replace(11, 'none'), undefined, 'nothing parked there')
  t.same(w.drain(), ['second'])
  t.equal(w.queuedCount, 0)
})

t.test('misuse is a programming error', async (t) => {
  const w = new RidWindow<string>(10, 2)
  t.throws(() => w.accept(12))
  t.throws(() => w.enqueue(11, 'x'), 'next is processed, not queued')
  t.throws(() => w.enqueue(13, 'x'))
  t.throws(() => new RidWindow<string>(1, 0))
})

t.test('drain returns queued items lowest rid first', async (t) => {
  const w = new RidWindow<string>(0, 5)
  w.enqueue(5, 'e')
  w.enqueue(3, 'c')
  w.enqueue(4, 'd')
  t.same(w.drain(), ['c', 'd', 'e'])
})
