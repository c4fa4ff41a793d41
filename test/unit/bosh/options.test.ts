import t from 'tap'
import { BoshOptionsError, DEFAULT_BOSH_OPTIONS, resolveBoshOptions } from '../../../src/core/bosh/options.js'
import { negotiate } from '../../../src/core/bosh/negotiate.js'
import type { CreateRequest } from '../../../src/core/bosh/body.js'
import { parse, wrap } from './fakes.js'

t.test('defaults are the documented bounds', async (t) => {
  t.same(resolveBoshOptions(), DEFAULT_BOSH_OPTIONS)
  t.equal(DEFAULT_BOSH_OPTIONS.maxWaitSeconds, 60)
  t.equal(DEFAULT_BOSH_OPTIONS.inactivitySeconds, 60)
  t.equal(DEFAULT_BOSH_OPTIONS.maxPauseSeconds, 120)
  t.equal(DEFAULT_BOSH_OPTIONS.pollingSeconds, 2)
  t.equal(DEFAULT_BOSH_OPTIONS.coalesceMs, 5)
  t.equal(DEFAULT_BOSH_OPTIONS.maxRequests, DEFAULT_BOSH_OPTIONS.maxHold + 1)
})

t.test('a bad option names its key', async (t) => {
  const cases: [Parameters<typeof resolveBoshOptions>[0], string][] = [
    [{ maxWaitSeconds: 0 }, 'maxWaitSeconds'],
    [{ coalesceMs: 1.5 }, 'coalesceMs'],
    [{ maxSessions: Number.NaN }, 'maxSessions'],
    [{ defaultWaitSeconds: 90 }, 'defaultWaitSeconds'],
    [{ maxHold: 2 }, 'maxRequests'],
  ]
  for (const [overrides, key] of cases) {
    let caught: unknown
    try {
      resolveBoshOptions(overrides)
    } catch (error) {
      caught = error
    }
    t.ok(caught instanceof BoshOptionsError && caught.key === key && caught.message.startsWith(`bosh.${key}:`), key)
  }
  t.ok(resolveBoshOptions({ maxHold: 2, maxRequests: 3 }))
})

function params(attrs: string, overrides = {}) {
  const result = negotiate(parse(wrap(attrs)) as CreateRequest, resolveBoshOptions(overrides))
  if (!result.ok) throw new Error(result.failure.condition)
  return result.params
}

t.test('XEP-0124 §7.2: wait and hold never exceed what the client asked for or our maximum', async (t) => {
  t.match(params(`to='a' rid='1' wait='120' hold='5' ver='1.11'`), { wait: 60, hold: 1, requests: 2 })
  t.match(params(`to='a' rid='1' wait='10' hold='0' ver='1.11'`), { wait: 10, hold: 0, requests: 2 })
  t.match(params(`to='a' rid='1' wait='10' hold='2' ver='1.11'`, { maxHold: 2, maxRequests: 3 }), { hold: 2, requests: 3 })
  t.match(params(`to='a' rid='1'`), { wait: 60, hold: 1 }, 'defaults when the client sends none')
  t.match(params(`to='a' rid='1' wait='0' hold='1'`), { wait: 0, hold: 0 }, "wait='0' is a polling session")
})

t.test('XEP-0124 §7.2: ver is the lower of the client\'s and ours (1.11); none means legacy', async (t) => {
  t.match(params(`to='a' rid='1' ver='1.6'`), { ver: { major: 1, minor: 6 }, legacy: false })
  t.match(params(`to='a' rid='1' ver='1.20'`), { ver: { major: 1, minor: 11 } }, 'minor compared as an integer')
  t.match(params(`to='a' rid='1' ver='2.0'`), { ver: { major: 1, minor: 11 } })
  t.match(params(`to='a' rid='1'`), { ver: { major: 1, minor: 11 }, legacy: true })
})

t.test('XEP-0124 §12: a polling session gets a longer inactivity period, by more than polling', async (t) => {
  t.equal(params(`to='a' rid='1' hold='0'`).inactivity, 64)
  t.equal(params(`to='a' rid='1' hold='1'`).inactivity, 60)
})

t.test('XEP-0124 §17.2 improper-addressing: creation without to', async (t) => {
  const result = negotiate(parse(wrap(`rid='1'`)) as CreateRequest, resolveBoshOptions())
  t.same(result, { ok: false, failure: { condition: 'improper-addressing', text: "missing 'to'" } })
  const empty = negotiate(parse(wrap(`rid='1' to=''`)) as CreateRequest, resolveBoshOptions())
  t.equal(empty.ok, false, "an empty 'to' has no value either")
})

t.test('XEP-0206 §3: xmpp:version is forwarded, 1.0 when absent; content sets the reply Content-Type', async (t) => {
  t.match(params(`to='a' rid='1' xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0' content='text/html'`), { xmppVersion: '1.0', contentType: 'text/html' })
  t.match(params(`to='a' rid='1'`), { xmppVersion: '1.0', contentType: 'text/xml; charset=utf-8' })
})
