import t from 'tap'
import { BODY, Harness, keySequence, sha1 } from './fakes.js'

const MSG = (n: number) => `<message xmlns='jabber:client' id='m${n}'/>`
const NOT_FOUND = `${BODY} type='terminate' condition='item-not-found'/>`

/** keys[0] = K(n) goes in 'newkey' at creation; keys[1], keys[2], … follow. */
function keyed(keys: string[]): Harness {
  const h = new Harness({ create: `to='example.com' rid='100' wait='30' hold='1' ver='1.11' newkey='${keys[0]}'` })
  h.open()
  h.mark()
  return h
}

t.test('XEP-0124 §15.3: the test key chain is hex SHA-1 of the previous key', async (t) => {
  const keys = keySequence('seed', 3)
  t.equal(keys[0], sha1(keys[1] as string))
  t.equal(keys[1], sha1(keys[2] as string))
  t.equal(keys[2], sha1('seed'))
})

t.test('XEP-0124 §15.4: each key must hash to the previous one', async (t) => {
  const keys = keySequence('s3cret', 5)
  const h = keyed(keys)
  h.send(`rid='101' key='${keys[1]}'`, MSG(101))
  h.send(`rid='102' key='${keys[2]}'`, MSG(102))
  h.send(`rid='103' key='${keys[3]}'`, MSG(103))
  t.equal(h.session.state, 'open')
  t.equal(h.upstream.sent.length, 3)
})

t.test('XEP-0124 §15.4: a wrong key is item-not-found and the request is not processed', async (t) => {
  const keys = keySequence('s3cret', 5)
  const h = keyed(keys)
  const r101 = h.send(`rid='101' key='${keys[1]}'`, MSG(101))
  const bad = h.send(`rid='102' key='${keys[3]}'`, MSG(102))
  t.equal(bad.body, NOT_FOUND)
  t.equal(r101.body, `${BODY} type='terminate' condition='other-request'/>`)
  t.same(h.upstream.sent, [`<message xmlns='jabber:client' id='m101'/>`], 'MUST NOT process the element')
  t.same(h.ends, [{ reason: 'bad-key', condition: 'item-not-found', text: 'key sequence broken' }])
})

t.test('XEP-0124 §15.4: a missing key after a keyed request is item-not-found', async (t) => {
  const keys = keySequence('s3cret', 3)
  const h = keyed(keys)
  const bare = h.send(`rid='101'`, MSG(101))
  t.equal(bare.body, NOT_FOUND)
  t.same(h.upstream.sent, [])
})

t.test('XEP-0124 §15.5: newkey switches to a new sequence', async (t) => {
  const old = keySequence('old', 2)
  const fresh = keySequence('new', 3)
  const h = keyed(old)
  h.send(`rid='101' key='${old[1]}' newkey='${fresh[0]}'`, MSG(101))
  h.send(`rid='102' key='${fresh[1]}'`, MSG(102))
  t.equal(h.session.state, 'open')
  const stale = h.send(`rid='103' key='${old[0]}'`, MSG(103))
  t.equal(stale.body, NOT_FOUND, 'the old sequence is dead')
})

t.test('XEP-0124 §15.4: keys are checked in rid order, so out-of-order requests still verify', async (t) => {
  const keys = keySequence('s3cret', 4)
  const h = keyed(keys)
  h.send(`rid='102' key='${keys[2]}'`, MSG(102))
  h.send(`rid='101' key='${keys[1]}'`, MSG(101))
  t.equal(h.session.state, 'open')
  t.same(h.upstream.sent, [`<message xmlns='jabber:client' id='m101'/>`, `<message xmlns='jabber:client' id='m102'/>`])
})

t.test('XEP-0124 §15: a newkey on a later request starts key checking for an unkeyed session', async (t) => {
  const keys = keySequence('late', 3)
  const h = new Harness()
  h.open()
  h.send(`rid='101' newkey='${keys[0]}'`, MSG(101))
  const bad = h.send(`rid='102' key='wrong'`, MSG(102))
  t.equal(bad.body, NOT_FOUND)
})
