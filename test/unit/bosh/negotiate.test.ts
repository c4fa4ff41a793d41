import t from 'tap'
import { negotiate } from '../../../src/core/bosh/negotiate.js'
import type { BoshOptions } from '../../../src/core/bosh/options.js'
import type { CreateRequest } from '../../../src/core/bosh/body.js'
import { DEFAULT_CONFIG } from '../../../src/config/index.js'
import { boshOptions } from '../../../src/config/settings.js'
import { BOSH_OPTIONS } from '../../support/limits.js'
import { parse, wrap } from './fakes.js'

t.test('the BOSH bounds come from the config option table (seconds on the wire, ms inside)', async (t) => {
  t.same(BOSH_OPTIONS, boshOptions(DEFAULT_CONFIG))
  t.equal(BOSH_OPTIONS.maxWaitMs, DEFAULT_CONFIG.boshMaxWaitMs)
  t.equal(BOSH_OPTIONS.maxBodyBytes, DEFAULT_CONFIG.boshMaxBodyBytes)
  t.ok(BOSH_OPTIONS.maxRequests > BOSH_OPTIONS.maxHold, 'the config cross-check keeps requests above hold')
})

function params(attrs: string, overrides: Partial<BoshOptions> = {}) {
  const result = negotiate(parse(wrap(attrs)) as CreateRequest, { ...BOSH_OPTIONS, ...overrides })
  if (!result.ok) throw new Error(result.failure.condition)
  return result.params
}

t.test('XEP-0124 §7.2: wait and hold never exceed what the client asked for or our maximum', async (t) => {
  t.match(params(`to='a' rid='1' wait='120' hold='5' ver='1.11'`), { waitMs: 60_000, hold: 1, requests: 2 })
  t.match(params(`to='a' rid='1' wait='10' hold='0' ver='1.11'`), { waitMs: 10_000, hold: 0, requests: 2 })
  t.match(params(`to='a' rid='1' wait='10' hold='2' ver='1.11'`, { maxHold: 2, maxRequests: 3 }), { hold: 2, requests: 3 })
  t.match(params(`to='a' rid='1'`), { waitMs: 60_000, hold: 1 }, 'defaults when the client sends none')
  t.match(params(`to='a' rid='1' wait='0' hold='1'`), { waitMs: 0, hold: 0 }, "wait='0' is a polling session")
})

t.test('XEP-0124 §7.2: ver is the lower of the client\'s and ours (1.11); none means legacy', async (t) => {
  t.match(params(`to='a' rid='1' ver='1.6'`), { ver: { major: 1, minor: 6 }, legacy: false })
  t.match(params(`to='a' rid='1' ver='1.20'`), { ver: { major: 1, minor: 11 } }, 'minor compared as an integer')
  t.match(params(`to='a' rid='1' ver='2.0'`), { ver: { major: 1, minor: 11 } })
  t.match(params(`to='a' rid='1'`), { ver: { major: 1, minor: 11 }, legacy: true })
})

t.test('XEP-0124 §12: a polling session gets a longer inactivity period, by more than polling', async (t) => {
  t.equal(params(`to='a' rid='1' hold='0'`).inactivityMs, 64_000)
  t.equal(params(`to='a' rid='1' hold='1'`).inactivityMs, 60_000)
})

t.test('XEP-0124 §17.2 improper-addressing: creation without to', async (t) => {
  const result = negotiate(parse(wrap(`rid='1'`)) as CreateRequest, BOSH_OPTIONS)
  t.same(result, { ok: false, failure: { condition: 'improper-addressing', text: "missing 'to'" } })
  const empty = negotiate(parse(wrap(`rid='1' to=''`)) as CreateRequest, BOSH_OPTIONS)
  t.equal(empty.ok, false, "an empty 'to' has no value either")
})

t.test('XEP-0206 §3: xmpp:version is forwarded, 1.0 when absent; content sets the reply Content-Type', async (t) => {
  t.match(params(`to='a' rid='1' xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0' content='text/html'`), { xmppVersion: '1.0', contentType: 'text/html' })
  t.match(params(`to='a' rid='1'`), { xmppVersion: '1.0', contentType: 'text/xml; charset=utf-8' })
})
