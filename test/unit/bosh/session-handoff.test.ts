/**
 * BOSH: hand-off shutdown (`shutdownHandoff`) and moving a service
 * (`seeOtherUri`, XEP-0124 §17.2 see-other-uri), on the manual clock.
 */
import t from 'tap'
import { SessionAdmission } from '../../../src/core/admission.js'
import { BoshSessionRegistry } from '../../../src/core/bosh/session-registry.js'
import { BoshCounters } from '../../support/bosh-counters.js'
import { BODY_LIMITS, BOSH_OPTIONS } from '../../support/limits.js'
import { ManualClock } from '../../support/manual-clock.js'
import { SequentialIds } from '../../support/sequential-ids.js'
import { BODY, FakeConnector, FakeUpstream, FEATURES_XML, HEADER, Harness, RecordingResponder, Wire, sha1, upstreamElement, wrap } from './fakes.js'

const TERMINATE = (condition: string) => `${BODY} type='terminate' condition='${condition}'/>`
const URI = 'https://new.example.org/http-bind'

function registry(seeOtherUri?: string) {
  const wire = new Wire()
  const counters = new BoshCounters()
  const upstreams: FakeUpstream[] = []
  const admission = new SessionAdmission(100, 10)
  const reg = new BoshSessionRegistry({
    options: { ...BOSH_OPTIONS, coalesceMs: 0 },
    clock: new ManualClock(),
    ids: new SequentialIds('node1.sid'),
    hash: sha1,
    admit: (ip) => admission.admit(ip),
    xmlLimits: BODY_LIMITS.xml,
    equip: () => {
      const upstream = new FakeUpstream(wire)
      upstreams.push(upstream)
      return { upstream: new FakeConnector(upstream) }
    },
    metrics: counters,
    ...(seeOtherUri !== undefined ? { seeOtherUri } : {}),
  })
  const post = (xml: string) => {
    const responder = new RecordingResponder('r', wire)
    reg.handleBody(xml, responder, { ip: '192.0.2.1' })
    return responder
  }
  return { reg, wire, counters, upstreams, admission, post }
}

t.test('hand-off: held requests hear system-shutdown, the upstream is detached, never closed', async (t) => {
  const h = new Harness({ create: `to='example.com' rid='100' wait='30' hold='2' ver='1.11'` })
  h.open()
  h.mark()
  const a = h.send(`rid='101'`)
  h.session.handOff()
  t.equal(a.body, TERMINATE('system-shutdown'), 'the client reconnects, as on any shutdown')
  t.same(h.ends, [{ reason: 'handoff', condition: 'system-shutdown' }])
  t.equal(h.upstream.closed, 0, 'no </stream:stream>: the server keeps the XEP-0198 session')
  t.equal(h.upstream.detached, 1)
  t.equal(h.disposed, 1)
  h.session.handOff()
  t.equal(h.upstream.detached, 1, 'once')
})

t.test('registry hand-off with nothing held: every upstream detached, slots given back, creations refused', async (t) => {
  const f = registry()
  const created = f.post(wrap(`to='example.com' rid='1' wait='30' hold='1' ver='1.11'`))
  f.upstreams[0]?.sink?.upstreamOpened(HEADER, upstreamElement(FEATURES_XML))
  t.match(created.body, `sid='node1.sid1'`)
  f.reg.handOff()
  t.equal(f.upstreams[0]?.detached, 1)
  t.equal(f.upstreams[0]?.closed, 0)
  t.equal(f.reg.size, 0)
  t.equal(f.admission.total, 0, 'its admission slot is given back')
  t.equal(f.post(wrap(`to='example.com' rid='9' wait='30' hold='1' ver='1.11'`)).body, TERMINATE('system-shutdown'), 'creations are refused as in any shutdown')
})

t.test('XEP-0124 §17.2 see-other-uri: every creation is refused with the condition and a <uri/> child, and no upstream is opened', async (t) => {
  const f = registry(URI)
  const r = f.post(wrap(`to='example.com' rid='1' wait='30' hold='1' ver='1.11'`))
  t.equal(r.body, `${BODY} type='terminate' condition='see-other-uri'><uri>${URI}</uri></body>`)
  t.equal(f.upstreams.length, 0)
  t.same([...f.counters.refusals], [['see-other-uri', 1]])
  t.equal(f.admission.total, 0)
  const legacy = f.post(wrap(`to='example.com' rid='1' wait='30' hold='1'`))
  t.equal(legacy.replies[0]?.status, 200, 'see-other-uri has no legacy HTTP code (§17.1): a legacy client gets the body too')
  t.match(legacy.body, `<uri>${URI}</uri>`)
})

t.test('see-other-uri: the URI is escaped as text', async (t) => {
  const f = registry('https://x.example/a?b=1&c=<2>')
  t.match(f.post(wrap(`to='example.com' rid='1' wait='30' hold='1' ver='1.11'`)).body, '<uri>https://x.example/a?b=1&amp;c=&lt;2&gt;</uri>')
})
