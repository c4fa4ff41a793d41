/**
 * The small parts operators rely on, on a ManualClock: the repeat gate
 * behind every rate-limited warning, the session directory's filters and
 * pagination, the bearer-token check, the prebind rate limit, and the
 * remedies the diagnostics print for each upstream failure.
 */
import t from 'tap'
import { BearerToken } from '../../src/admin/bearer.js'
import { parseJid } from '../../src/admin/prebind.js'
import { TokenBucket } from '../../src/admin/token-bucket.js'
import { makeConfig } from '../../src/config/index.js'
import { RepeatGate } from '../../src/observability/repeat-gate.js'
import { SessionDirectory } from '../../src/observability/session-directory.js'
import { fixFor, refusalFix } from '../../src/upstream/diagnostics.js'
import type { UpstreamFailureReport } from '../../src/upstream/diagnostics.js'
import { ManualClock } from '../support/manual-clock.js'

t.test('RepeatGate: once per key per interval, with the count of what was held back', async (t) => {
  const clock = new ManualClock()
  const gate = new RepeatGate(clock, 60_000, 3)
  t.same(gate.admit('a'), { log: true, repeats: 0 })
  t.same(gate.admit('a'), { log: false })
  t.same(gate.admit('a'), { log: false })
  t.same(gate.admit('b'), { log: true, repeats: 0 }, 'another key is its own')
  clock.advance(59_999)
  t.same(gate.admit('a'), { log: false })
  clock.advance(1)
  t.same(gate.admit('a'), { log: true, repeats: 3 }, 'after the interval, with the repeats')
  gate.admit('c')
  gate.admit('d') // a fourth key: the oldest is forgotten, the set stays bounded
  t.same(gate.admit('b'), { log: true, repeats: 0 }, 'a forgotten key may be logged early')
})

t.test('SessionDirectory: filters, creation order, pagination with a cursor that survives sessions ending', async (t) => {
  const directory = new SessionDirectory()
  const records = Array.from({ length: 7 }, (_, i) =>
    directory.add({ id: `s${i}`, transport: i % 2 === 0 ? 'websocket' : 'bosh', remote: i < 4 ? '192.0.2.1' : '192.0.2.2' }, i * 1000),
  )
  records[2]!.authenticatedAt = 2500
  records[3]!.authenticatedAt = 3500
  const ids = (list: { records: readonly { id: string }[] }) => list.records.map((r) => r.id)
  const first = directory.list({}, 3)
  t.same(ids(first), ['s0', 's1', 's2'])
  t.equal(first.total, 7)
  directory.remove(records[3]!) // a session on the next page ends meanwhile
  const second = directory.list({}, 3, first.next)
  t.same(ids(second), ['s4', 's5', 's6'])
  t.equal(second.next, undefined, 'the last page')
  t.same(ids(directory.list({ transport: 'bosh' }, 10)), ['s1', 's5'])
  t.same(ids(directory.list({ state: 'authenticated' }, 10)), ['s2'])
  t.same(ids(directory.list({ remote: '192.0.2.2', transport: 'websocket' }, 10)), ['s4', 's6'])
  t.same([...(directory.counts().get('websocket') ?? [])], [['pre-auth', 3], ['authenticated', 1], ['draining', 0]])
  directory.draining = true
  t.same([...(directory.counts().get('bosh') ?? [])], [['pre-auth', 0], ['authenticated', 0], ['draining', 2]], 'draining counts every session as draining')
})

t.test('BearerToken: RFC 6750 §2.1 header, exact token, case-insensitive scheme', async (t) => {
  const token = new BearerToken('s3cr3t-token-with-24-chars-ok')
  t.ok(token.matches('Bearer s3cr3t-token-with-24-chars-ok'))
  t.ok(token.matches('bearer s3cr3t-token-with-24-chars-ok'))
  t.notOk(token.matches(undefined))
  t.notOk(token.matches(''))
  t.notOk(token.matches('Bearer '))
  t.notOk(token.matches('Bearer s3cr3t-token-with-24-chars-o'))
  t.notOk(token.matches('Bearer s3cr3t-token-with-24-chars-okk'))
  t.notOk(token.matches('Basic czNjcjN0'))
  t.notOk(token.matches('Bearer s3cr3t-token-with-24-chars-ok extra'))
})

t.test('TokenBucket: a burst of perSecond, then one per 1/perSecond', async (t) => {
  const clock = new ManualClock()
  const bucket = new TokenBucket(clock, 2)
  t.ok(bucket.take())
  t.ok(bucket.take())
  t.notOk(bucket.take())
  t.equal(bucket.retryAfterSeconds, 1)
  clock.advance(499)
  t.notOk(bucket.take())
  clock.advance(1)
  t.ok(bucket.take())
})

t.test('prebind JIDs: user@domain[/resource], domain lower-cased', async (t) => {
  t.same(parseJid('alice@Example.org/web'), { local: 'alice', domain: 'example.org', resource: 'web' })
  t.same(parseJid('alice@example.org'), { local: 'alice', domain: 'example.org', resource: undefined })
  for (const bad of ['example.org', '@example.org', 'alice@', 'a b@example.org', 'alice@example.org/', "x'@example.org"]) t.equal(parseJid(bad), undefined, bad)
})

t.test('every upstream failure comes with a remedy in words that names the option or setting to change', async (t) => {
  const base = { upstream: 'example.org', domain: 'example.org', target: { kind: 'starttls', host: 'xmpp.internal', port: 5222 }, opened: false, text: 'x' } as const
  const report = (extra: Partial<UpstreamFailureReport>): UpstreamFailureReport => ({ ...base, cause: 'refused', ...extra })
  t.match(fixFor(report({ cause: 'refused' }), false), /xmpp\.internal:5222.*start the XMPP server/)
  t.match(fixFor(report({ cause: 'dns' }), false), /could not be resolved/)
  t.match(fixFor(report({ cause: 'timeout' }), false), /upstreamConnectTimeoutMs/)
  const cert = { subject: 'CN=xmpp.internal', issuer: 'CN=xmpp.internal', validFrom: 'a', validTo: 'b', altNames: 'DNS:xmpp.internal', selfSigned: true, fingerprint256: 'AA' }
  t.match(fixFor(report({ cause: 'tls', tls: { verifyError: 'DEPTH_ZERO_SELF_SIGNED_CERT', expectedName: 'example.org', certificate: cert } }), false), /self-signed.*upstreamCaFile/)
  t.match(fixFor(report({ cause: 'tls', tls: { verifyError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', expectedName: 'example.org' } }), false), /set upstreamCaFile/)
  t.match(fixFor(report({ cause: 'tls', tls: { verifyError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', expectedName: 'example.org' } }), true), /not in upstreamCaFile/)
  t.match(fixFor(report({ cause: 'tls', tls: { verifyError: 'ERR_TLS_CERT_ALTNAME_INVALID', expectedName: 'example.org', certificate: cert } }), false), /does not name the XMPP domain "example\.org" \(it names DNS:xmpp\.internal\)/)
  t.match(fixFor(report({ cause: 'tls', tls: { verifyError: 'CERT_HAS_EXPIRED', expectedName: 'example.org', certificate: cert } }), false), /expired on b/)
  t.match(fixFor(report({ cause: 'tls', tls: { handshakeError: 'ERR_SSL_WRONG_VERSION_NUMBER', expectedName: 'example.org' }, target: { kind: 'tls', host: 'h', port: 5222 } }), false), /tls:\/\/ is for direct-TLS ports/)
  t.match(fixFor(report({ cause: 'tls', text: 'upstream does not offer STARTTLS' }), false), /offers no STARTTLS.*tcp:\/\//)
  t.match(refusalFix({ ...base, condition: 'undefined-condition', secure: false }), /requires encryption.*secure_interfaces/)
  t.match(refusalFix({ ...base, condition: 'host-unknown', secure: true }), /does not serve the domain "example\.org"/)
})

t.test('secret options: errors never show the token', async (t) => {
  const token = 'super-secret-admin-token-0123456789'
  for (const attempt of [
    () => makeConfig({ adminToken: token }), // no adminPort
    () => makeConfig({ adminToken: `${token} with spaces`, adminPort: 5290 }),
    () => makeConfig({ adminToken: token, adminTokenFile: '/x', adminPort: 5290 }),
  ]) {
    const error = t.throws(attempt) as Error
    t.notMatch(error.message, /super-secret/, error.message)
  }
  t.equal(makeConfig({ adminToken: token, adminPort: 5290 }).adminToken, token)
})
