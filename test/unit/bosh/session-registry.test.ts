import t from 'tap'
import { SessionAdmission } from '../../../src/core/admission.js'
import type { IdSource } from '../../../src/core/ids.js'
import type { BoshOptions } from '../../../src/core/bosh/options.js'
import { BoshSessionRegistry } from '../../../src/core/bosh/session-registry.js'
import type { RegistryDeps, SessionContext, TargetVerdict } from '../../../src/core/bosh/session-registry.js'
import { BoshCounters, RecordingObserver } from '../../support/bosh-counters.js'
import { BODY_LIMITS, BOSH_OPTIONS } from '../../support/limits.js'
import { ManualClock } from '../../support/manual-clock.js'
import { SequentialIds } from '../../support/sequential-ids.js'
import { BODY, FakeConnector, FakeUpstream, HEADER, FEATURES_XML, RecordingResponder, Wire, sha1, upstreamElement, wrap } from './fakes.js'

const TERMINATE = (condition: string) => `${BODY} type='terminate' condition='${condition}'/>`
const CREATE = `to='example.com' rid='1' wait='30' hold='1' ver='1.11'`

class Fixture {
  readonly clock = new ManualClock()
  readonly wire = new Wire()
  readonly counters = new BoshCounters()
  readonly observer = new RecordingObserver()
  readonly upstreams = new Map<string, FakeUpstream>()
  readonly contexts: SessionContext[] = []
  readonly admission: SessionAdmission
  readonly registry: BoshSessionRegistry

  constructor(
    options: Partial<BoshOptions> = {},
    extra: { ids?: IdSource; checkTarget?: RegistryDeps['checkTarget']; maxSessions?: number; maxSessionsPerIp?: number } = {},
  ) {
    this.admission = new SessionAdmission(extra.maxSessions ?? 10_000, extra.maxSessionsPerIp ?? 50)
    const deps: RegistryDeps = {
      options: { ...BOSH_OPTIONS, coalesceMs: 0, ...options },
      clock: this.clock,
      ids: extra.ids ?? new SequentialIds('node1.sid'),
      hash: sha1,
      admit: (ip) => this.admission.admit(ip),
      xmlLimits: BODY_LIMITS.xml,
      equip: (context) => {
        const upstream = new FakeUpstream(this.wire)
        this.upstreams.set(context.sid, upstream)
        this.contexts.push(context)
        return { upstream: new FakeConnector(upstream), observer: this.observer }
      },
      metrics: this.counters,
      ...(extra.checkTarget ? { checkTarget: extra.checkTarget } : {}),
    }
    this.registry = new BoshSessionRegistry(deps)
  }

  post(xml: string, ip = '192.0.2.1', label = 'r'): RecordingResponder {
    const responder = new RecordingResponder(label, this.wire)
    this.registry.handleBody(xml, responder, { ip })
    return responder
  }

  /** Create a session and open its upstream; returns the sid. */
  create(ip = '192.0.2.1', attrs = CREATE): string {
    const responder = this.post(wrap(attrs), ip)
    const sid = this.contexts.at(-1)?.sid
    if (!sid) throw new Error(`not created: ${JSON.stringify(responder.replies)}`)
    const sink = this.upstreams.get(sid)?.sink
    sink?.upstreamOpened(HEADER, upstreamElement(FEATURES_XML))
    return sid
  }
}

t.test('XEP-0124 §7.2: sids come from the IdSource, NODE.-prefixed ones included, and route to their session', async (t) => {
  const f = new Fixture()
  const responder = f.post(wrap(CREATE))
  const sink = f.upstreams.get('node1.sid1')?.sink
  t.ok(sink, 'the first sid is node1.sid1')
  sink?.upstreamOpened(HEADER, upstreamElement(FEATURES_XML))
  t.match(responder.body, ` sid='node1.sid1' `)
  t.same(f.contexts[0]?.ip, '192.0.2.1')
  t.equal(f.contexts[0]?.params.to, 'example.com')
  const next = f.post(wrap(`sid='node1.sid1' rid='2'`, `<message xmlns='jabber:client'/>`))
  t.equal(next.answered, false, 'held by its session')
  t.same(f.upstreams.get('node1.sid1')?.sent, [`<message xmlns='jabber:client'/>`])
  t.equal(f.registry.size, 1)
  t.equal(f.admission.total, 1, 'the session holds one admission slot')
})

t.test('an IdSource producing unusable sids is a programming error', async (t) => {
  const f = new Fixture({}, { ids: { next: () => "bad sid'" } })
  t.throws(() => f.post(wrap(CREATE)), /unusable sid/)
  const repeating = new Fixture({}, { ids: { next: () => 'same' } })
  repeating.create()
  t.throws(() => repeating.post(wrap(CREATE)), /in use/)
})

t.test("XEP-0124 §17.2 item-not-found: an unknown sid", async (t) => {
  const f = new Fixture()
  const r = f.post(wrap(`sid='nope' rid='5'`))
  t.equal(r.body, TERMINATE('item-not-found'))
  t.same([...f.counters.refusals], [['unknown-sid', 1]])
})

t.test('XEP-0124 §10, §13: a terminated sid is never honoured again', async (t) => {
  const f = new Fixture()
  const sid = f.create()
  const bye = f.post(wrap(`sid='${sid}' rid='2' type='terminate'`))
  t.equal(bye.body, `${BODY} type='terminate'/>`)
  t.equal(f.registry.size, 0)
  t.equal(f.admission.from('192.0.2.1'), 0, 'its admission slot is given back')
  const again = f.post(wrap(`sid='${sid}' rid='3'`))
  t.equal(again.body, TERMINATE('item-not-found'))
  const created = f.create()
  t.not(created, sid, 'and never reissued')
})

t.test('XEP-0124 §17.2 improper-addressing: creation without to', async (t) => {
  const f = new Fixture()
  const r = f.post(wrap(`rid='1' ver='1.11'`))
  t.equal(r.body, TERMINATE('improper-addressing'))
  t.equal(f.registry.size, 0)
})

t.test('XEP-0124 §17.2 host-unknown / host-gone: the routing policy refuses the target', async (t) => {
  const seen: unknown[] = []
  const checkTarget = (to: string, route: unknown): TargetVerdict => {
    seen.push([to, route])
    return to === 'example.com' ? 'ok' : to === 'old.example' ? 'host-gone' : 'host-unknown'
  }
  const f = new Fixture({}, { checkTarget })
  t.equal(f.post(wrap(`to='elsewhere.example' rid='1' ver='1.11'`)).body, TERMINATE('host-unknown'))
  t.equal(f.post(wrap(`to='old.example' rid='1' ver='1.11'`)).body, TERMINATE('host-gone'))
  f.create('192.0.2.1', `to='example.com' rid='1' ver='1.11' route='xmpp:xmpp.example.com:5222'`)
  t.same(seen.at(-1), ['example.com', { proto: 'xmpp', host: 'xmpp.example.com', port: 5222 }])
  t.equal(f.registry.size, 1)
  t.same([...f.counters.refusals], [['target-refused', 2]])
})

t.test('maxSessions: capacity refusals are internal-server-error', async (t) => {
  const f = new Fixture({}, { maxSessions: 2 })
  f.create('192.0.2.1')
  f.create('192.0.2.2')
  t.equal(f.post(wrap(CREATE), '192.0.2.3').body, TERMINATE('internal-server-error'))
  t.same([...f.counters.refusals], [['max-sessions', 1]])
})

t.test('maxSessionsPerIp: one address cannot take more, and the count is released when sessions end', async (t) => {
  const f = new Fixture({}, { maxSessionsPerIp: 2 })
  const a = f.create()
  f.create()
  t.equal(f.admission.from('192.0.2.1'), 2)
  t.equal(f.post(wrap(CREATE)).body, TERMINATE('policy-violation'))
  t.ok(f.create('198.51.100.7'), 'other addresses are unaffected')
  f.post(wrap(`sid='${a}' rid='2' type='terminate'`))
  t.equal(f.admission.from('192.0.2.1'), 1)
  t.ok(f.create(), 'room again')
})

t.test('XEP-0124 §17.1: creation refusals use HTTP codes for legacy clients', async (t) => {
  const f = new Fixture({}, { maxSessionsPerIp: 1 })
  f.create()
  const r = f.post(wrap(`to='example.com' rid='1'`))
  t.same(r.reply, { status: 403, condition: 'policy-violation', contentType: 'text/xml; charset=utf-8' })
})

t.test('XEP-0124 §17.2 system-shutdown: live sessions are told, new ones refused', async (t) => {
  const f = new Fixture()
  const sid = f.create()
  const held = f.post(wrap(`sid='${sid}' rid='2'`))
  f.registry.shutdown()
  t.equal(held.body, TERMINATE('system-shutdown'))
  t.equal(f.registry.size, 0)
  t.equal(f.post(wrap(CREATE)).body, TERMINATE('system-shutdown'))
})

t.test('XEP-0124 §17.2 bad-request: a malformed body with no usable sid', async (t) => {
  const f = new Fixture()
  t.equal(f.post(`<body xmlns='http://jabber.org/protocol/httpbind' rid='1'`).body, TERMINATE('bad-request'))
  t.equal(f.post(`not xml`).body, TERMINATE('bad-request'))
  t.same([...f.counters.refusals], [['malformed-body', 2]])
})

t.test('XEP-0124 §17.2 bad-request: a malformed body naming a live session ends it', async (t) => {
  const f = new Fixture()
  const sid = f.create()
  const held = f.post(wrap(`sid='${sid}' rid='2'`), undefined, 'held')
  const bad = f.post(wrap(`sid='${sid}' rid='three'`), undefined, 'bad')
  t.equal(bad.body, TERMINATE('bad-request'))
  t.equal(held.body, TERMINATE('other-request'))
  t.equal(f.registry.size, 0)
})

t.test('XEP-0124 §16.4: a creation request that names a stream and carries data is item-not-found', async (t) => {
  const f = new Fixture()
  t.equal(f.post(wrap(`${CREATE} stream='s'`, `<presence xmlns='jabber:client'/>`)).body, TERMINATE('item-not-found'))
  t.ok(f.create('192.0.2.1', `${CREATE} stream='s'`), 'an empty one ignores it')
})

t.test('oversized bodies are refused before parsing', async (t) => {
  const f = new Fixture({ maxBodyBytes: 1024 })
  const r = f.post(wrap(CREATE, `<message><body>${'x'.repeat(2000)}</body></message>`))
  t.equal(r.body, TERMINATE('policy-violation'))
})

t.test('held-request and retransmission counters add up across sessions', async (t) => {
  const f = new Fixture()
  const a = f.create('192.0.2.1')
  const b = f.create('192.0.2.2')
  f.post(wrap(`sid='${a}' rid='2'`))
  f.post(wrap(`sid='${b}' rid='2'`))
  t.equal(f.counters.held, 2)
  f.post(wrap(`sid='${a}' rid='1'`))
  t.equal(f.counters.retransmissions, 1)
  f.clock.advance(30_000)
  t.equal(f.counters.held, 0)
})

/** A responder that can also close the connection without an answer (§19). */
class DroppingResponder extends RecordingResponder {
  dropped = 0
  drop(): void {
    this.dropped += 1
  }
}

t.test('XEP-0124 §19: a session created over HTTPS is never served over plain HTTP', async (t) => {
  const f = new Fixture()
  const created = new RecordingResponder('create')
  f.registry.handleBody(wrap(CREATE), created, { ip: '192.0.2.1', secure: true })
  const sid = f.contexts[0]?.sid ?? ''
  f.upstreams.get(sid)?.sink?.upstreamOpened(HEADER, upstreamElement(FEATURES_XML))
  t.match(created.body, `sid='${sid}'`)

  // Over plain HTTP: the connection is closed, nothing is answered, nothing reaches the session.
  const plain = new DroppingResponder('plain')
  f.registry.handleBody(wrap(`sid='${sid}' rid='2'`, `<message xmlns='jabber:client' to='x@example.com'><body>leak?</body></message>`), plain, { ip: '192.0.2.1', secure: false })
  t.equal(plain.dropped, 1, 'connection dropped')
  t.equal(plain.answered, false, 'no BOSH answer at all')
  t.same(f.upstreams.get(sid)?.sent, [], 'the payload never went upstream')
  t.same([...f.counters.refusals], [['insecure-request', 1]])

  // An unknown-security request (no context) is treated as plain too, and so is a malformed body naming the sid.
  const unknown = new DroppingResponder('unknown')
  f.registry.handleBody(wrap(`sid='${sid}' rid='2' type='terminate'`), unknown, { ip: '192.0.2.1' })
  t.equal(unknown.dropped, 1)
  const malformed = new DroppingResponder('malformed')
  f.registry.handleBody(wrap(`sid='${sid}' rid='2'`, 'stray text'), malformed, { ip: '192.0.2.1', secure: false })
  t.equal(malformed.dropped, 1, 'a bad body over HTTP cannot terminate the session either')
  t.equal(f.registry.size, 1, 'the session is kept')

  // The same rid over HTTPS is served normally: the dropped requests did not count.
  const secure = new DroppingResponder('secure')
  f.registry.handleBody(wrap(`sid='${sid}' rid='2'`, `<message xmlns='jabber:client' to='x@example.com'><body>ok</body></message>`), secure, { ip: '192.0.2.1', secure: true })
  t.equal(secure.dropped, 0)
  t.same(f.upstreams.get(sid)?.sent, [`<message xmlns='jabber:client' to='x@example.com'><body>ok</body></message>`])

  // A responder without drop() gets a bare 403 (policy-violation) instead.
  const legacy = new RecordingResponder('no-drop')
  f.registry.handleBody(wrap(`sid='${sid}' rid='3'`), legacy, { ip: '192.0.2.1', secure: false })
  t.same(legacy.reply, { status: 403, condition: 'policy-violation', contentType: 'text/xml; charset=utf-8' })
})

t.test('XEP-0124 §19: a session created over plain HTTP may move to HTTPS', async (t) => {
  const f = new Fixture()
  f.registry.handleBody(wrap(CREATE), new RecordingResponder('create'), { ip: '192.0.2.1', secure: false })
  const sid = f.contexts[0]?.sid ?? ''
  f.upstreams.get(sid)?.sink?.upstreamOpened(HEADER, upstreamElement(FEATURES_XML))
  const upgraded = new DroppingResponder('https')
  f.registry.handleBody(wrap(`sid='${sid}' rid='2'`, `<presence xmlns='jabber:client'/>`), upgraded, { ip: '192.0.2.1', secure: true })
  const plain = new DroppingResponder('http')
  f.registry.handleBody(wrap(`sid='${sid}' rid='3'`, `<presence xmlns='jabber:client'/>`), plain, { ip: '192.0.2.1', secure: false })
  t.equal(upgraded.dropped + plain.dropped, 0, 'nothing dropped')
  t.equal(f.upstreams.get(sid)?.sent.length, 2)
})

t.test('the creating request’s connection facts reach the upstream factory untouched', async (t) => {
  const f = new Fixture()
  const connection = { sourceAddress: '203.0.113.9', sourcePort: 0, destinationAddress: '127.0.0.1', destinationPort: 5280 }
  f.registry.handleBody(wrap(CREATE), new RecordingResponder('create'), { ip: '203.0.113.9', connection })
  t.equal(f.contexts[0]?.connection, connection)
  t.equal(f.contexts[0]?.ip, '203.0.113.9')
})
