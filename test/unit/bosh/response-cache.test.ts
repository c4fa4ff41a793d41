import t from 'tap'
import { ResponseCache } from '../../../src/core/bosh/response-cache.js'

const bytes = (text: string) => new TextEncoder().encode(text)

t.test('XEP-0124 §14.3: the cache keeps the last `requests` responses by rid', async (t) => {
  const cache = new ResponseCache(2)
  cache.put(1, bytes('<a/>'), 10)
  cache.put(2, bytes('<b/>'), 20)
  cache.put(3, bytes('<c/>'), 30)
  t.equal(cache.size, 2)
  t.equal(cache.get(1), undefined, 'the oldest is gone')
  t.same(cache.get(2), { rid: 2, body: bytes('<b/>'), sentAt: 20 })
  t.same(cache.get(3), { rid: 3, body: bytes('<c/>'), sentAt: 30 })
})

t.test('XEP-0124 §14.3: acknowledged responses can be forgotten', async (t) => {
  const cache = new ResponseCache(3)
  cache.put(1, bytes('1'), 0)
  cache.put(2, bytes('2'), 0)
  cache.put(3, bytes('3'), 0)
  cache.forgetThrough(2)
  t.equal(cache.get(1), undefined)
  t.equal(cache.get(2), undefined)
  t.same(cache.get(3)?.body, bytes('3'))
  t.throws(() => new ResponseCache(0))
})
