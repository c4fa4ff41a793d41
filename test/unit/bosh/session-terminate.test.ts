import t from 'tap'
import { BODY, FEATURES_XML, Harness, RecordingResponder, upstreamElement } from './fakes.js'

const STREAM_NS = `xmlns:stream='http://etherx.jabber.org/streams'`
const TERMINATE = (condition: string) => `${BODY} type='terminate' condition='${condition}'/>`
const CONFLICT = `<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Replaced by new connection</text></stream:error>`
const CONFLICT_OUT = `<stream:error><conflict xmlns="urn:ietf:params:xml:ns:xmpp-streams"/><text xmlns="urn:ietf:params:xml:ns:xmpp-streams">Replaced by new connection</text></stream:error>`
const LEGACY = `to='example.com' rid='100' wait='30' hold='1'`

function opened(create?: string): Harness {
  const h = new Harness(create === undefined ? {} : { create })
  h.open()
  h.mark()
  return h
}

t.test('XEP-0124 §13: the terminate payload goes upstream before the stream closes, then an empty terminate body', async (t) => {
  const h = opened()
  h.send(`rid='101'`)
  h.send(`rid='102' type='terminate'`, `<presence type='unavailable' xmlns='jabber:client'/>`)
  t.same(h.wire.log, [
    `upstream send <presence type='unavailable' xmlns='jabber:client'/>`,
    `reply rid=101 ${BODY}/>`,
    `reply rid=102 ${BODY} type='terminate'/>`,
    'upstream close',
  ])
  t.equal(h.session.state, 'terminated')
  t.same(h.ends, [{ reason: 'client-close', text: undefined }])
  t.equal(h.disposed, 1)
  t.equal(h.counters.held, 0)
})

t.test('XEP-0206 §7: an upstream <stream:error/> is remote-stream-error, queued stanzas first, then the error', async (t) => {
  const h = opened()
  h.clock.advance(30_000) // nothing held
  h.fromServer(`<message id='last'/>`)
  const r101 = h.send(`rid='101'`) // answered at once with the waiting message
  const r102 = h.send(`rid='102'`) // held
  h.fromServer(`<presence id='p'/>`)
  t.equal(r101.body, `${BODY}><message xmlns='jabber:client' id='last'/></body>`)
  t.equal(r102.body, `${BODY}><presence xmlns='jabber:client' id='p'/></body>`)
  h.clock.advance(2_000)
  const r103 = h.send(`rid='103'`)
  h.mark()
  h.session.upstreamClosed({ kind: 'stream-error', error: upstreamElement(CONFLICT), condition: 'conflict' })
  t.equal(r103.body, `${BODY} ${STREAM_NS} type='terminate' condition='remote-stream-error'>${CONFLICT_OUT}</body>`)
  t.same(h.ends, [{ reason: 'upstream-error', condition: 'remote-stream-error', text: 'conflict' }])
  t.equal(h.upstream.closed, 0, 'the client stream already ended')
})

t.test('XEP-0206 §7: stanzas waiting when the stream error arrives precede it in the terminate body', async (t) => {
  const h = opened()
  h.clock.advance(30_000) // nothing held
  h.fromServer(`<message id='m'/>`)
  h.session.upstreamClosed({ kind: 'stream-error', error: upstreamElement(CONFLICT), condition: 'conflict' })
  t.equal(h.session.state, 'terminated')
  t.equal(h.upstream.closed, 0, 'the adapter already closed it')
  const next = h.send(`rid='101'`)
  t.equal(next.body, `${BODY} ${STREAM_NS} type='terminate' condition='remote-stream-error'><message xmlns='jabber:client' id='m'/>${CONFLICT_OUT}</body>`)
})

t.test('XEP-0124 §17.2 remote-connection-failed: the server cannot be reached', async (t) => {
  const h = new Harness()
  h.session.upstreamClosed({ kind: 'failed', cause: 'refused', opened: false, text: 'the XMPP server refused the connection', detail: 'connect to 127.0.0.1:1: ECONNREFUSED' })
  t.equal(h.creation.body, TERMINATE('remote-connection-failed'))
  t.same(h.ends, [{ reason: 'upstream-failed', condition: 'remote-connection-failed', text: 'the XMPP server refused the connection', detail: 'connect to 127.0.0.1:1: ECONNREFUSED' }])
})

t.test('XEP-0124 §17.2 host-unknown: a domain nobody routes is refused before the stream is opened', async (t) => {
  const h = new Harness({ route: { ok: false, condition: 'host-unknown', reason: 'domain "example.com" is not served here' } })
  t.equal(h.creation.body, TERMINATE('host-unknown'))
  t.equal(h.upstream.opened, undefined, 'no upstream stream was opened')
})

t.test('XEP-0124 §7.1 secure: a client that asked for an encrypted server link we do not have gets remote-connection-failed', async (t) => {
  const h = new Harness({ create: `to='example.com' rid='100' wait='30' hold='1' ver='1.11' secure='true'` })
  h.session.upstreamOpened({ id: 'plain', version: '1.0', secure: false }, upstreamElement(FEATURES_XML))
  t.equal(h.creation.body, TERMINATE('remote-connection-failed'))
  t.equal(h.upstream.detached, 1)
  t.same(h.ends, [{ reason: 'upstream-failed', condition: 'remote-connection-failed', text: 'the link to the XMPP server is not encrypted' }])
})

t.test('a server that stops taking the client payloads past maxUnsentBytes ends the session (a BOSH client cannot be paused)', async (t) => {
  const h = opened()
  h.upstream.bufferedBytes = h.options.maxUnsentBytes + 1
  const r = h.send(`rid='101'`, `<message xmlns='jabber:client'><body>more</body></message>`)
  t.equal(r.body, TERMINATE('remote-connection-failed'))
  t.equal(h.upstream.detached, 1)
  t.match(h.ends, [{ reason: 'upstream-failed', condition: 'remote-connection-failed', text: 'upstream stopped reading' }])
})

t.test('XEP-0124 §13: a clean upstream close ends the session with a plain terminate body', async (t) => {
  const h = opened()
  const r = h.send(`rid='101'`)
  h.session.upstreamClosed({ kind: 'closed' })
  t.equal(r.body, `${BODY} type='terminate'/>`)
  t.same(h.ends, [{ reason: 'upstream-closed' }])
})

t.test('XEP-0124 §17.2 system-shutdown: every held request is told', async (t) => {
  const h = opened(`to='example.com' rid='100' wait='30' hold='2' ver='1.11'`)
  const a = h.send(`rid='101'`)
  h.session.shutdown()
  t.equal(a.body, TERMINATE('system-shutdown'))
  t.same(h.ends, [{ reason: 'shutdown', condition: 'system-shutdown' }])
  t.equal(h.upstream.closed, 1)
  t.equal(h.disposed, 1)
  t.equal(h.observer.terminations.get('system-shutdown'), 1)
})

t.test('XEP-0124 §17.2 bad-request: a malformed body for a live session ends it', async (t) => {
  const h = opened()
  const held = h.send(`rid='101'`)
  const bad = new RecordingResponder('bad', h.wire)
  h.session.reject({ condition: 'bad-request', text: "'rid' must be a non-negative integer", sid: 'sid1' }, bad)
  t.same(h.wire.log, [`reply rid=101 ${TERMINATE('other-request')}`, `reply bad ${TERMINATE('bad-request')}`, 'upstream close'])
  t.ok(held.answered)
})

t.test('XEP-0124 §16.4: a stream attribute with payload is item-not-found; on an empty body it is ignored', async (t) => {
  const h = opened()
  const empty = h.send(`rid='101' stream='other'`)
  t.equal(h.session.state, 'open', 'an empty body ignores the attribute')
  const withPayload = h.send(`rid='102' stream='other'`, `<message xmlns='jabber:client'/>`)
  t.equal(withPayload.body, TERMINATE('item-not-found'))
  t.equal(empty.body, TERMINATE('other-request'))
  t.same(h.upstream.sent, [], 'nothing forwarded')
  t.same(h.ends, [{ reason: 'unknown-stream', condition: 'item-not-found', text: 'multiple streams are not supported' }])
})

t.test('XEP-0124 §16.4: a terminate naming a stream is item-not-found too', async (t) => {
  const h = opened()
  const r = h.send(`rid='101' stream='s2' type='terminate'`)
  t.equal(r.body, TERMINATE('item-not-found'))
})

t.test('after the end, a request gets item-not-found unless a terminal body was kept for it', async (t) => {
  const h = opened()
  h.send(`rid='101' type='terminate'`)
  const late = h.send(`rid='102'`)
  t.equal(late.body, TERMINATE('item-not-found'))
})

t.test('a kept terminal body is dropped after the inactivity period', async (t) => {
  const h = opened()
  h.clock.advance(30_000) // nothing held
  h.session.upstreamClosed({ kind: 'failed', cause: 'lost', opened: true, text: 'the XMPP server closed the connection' })
  t.equal(h.disposed, 0)
  h.clock.advance(60_000)
  t.equal(h.disposed, 1)
})

t.test('XEP-0124 §17.1: a legacy client (no ver) gets 404 for item-not-found', async (t) => {
  const h = opened(LEGACY)
  const r = h.send(`rid='200'`)
  t.same(r.reply, { status: 404, condition: 'item-not-found', contentType: 'text/xml; charset=utf-8' })
})

t.test('XEP-0124 §17.1: a legacy client gets 403 for policy-violation; the other outstanding request a body', async (t) => {
  const h = opened(LEGACY)
  const held = h.send(`rid='101'`)
  const pause = h.send(`rid='102' pause='999'`)
  t.same(pause.reply, { status: 403, condition: 'policy-violation', contentType: 'text/xml; charset=utf-8' })
  t.equal(held.body, TERMINATE('other-request'), 'other-request has no HTTP code')
})

t.test('XEP-0124 §17.1: a legacy client gets 400 for bad-request', async (t) => {
  const h = opened(LEGACY)
  const bad = new RecordingResponder('bad')
  h.session.reject({ condition: 'bad-request', text: 'x', sid: 'sid1' }, bad)
  t.same(bad.reply, { status: 400, condition: 'bad-request', contentType: 'text/xml; charset=utf-8' })
})

t.test('XEP-0124 §17.1: conditions without an HTTP code stay bodies for legacy clients', async (t) => {
  const h = opened(LEGACY)
  const r = h.send(`rid='101'`)
  h.session.upstreamClosed({ kind: 'failed', cause: 'lost', opened: true, text: 'the XMPP server closed the connection' })
  t.equal(r.body, TERMINATE('remote-connection-failed'))
  const s = opened(LEGACY)
  const held = s.send(`rid='101'`)
  s.session.shutdown()
  t.equal(held.body, TERMINATE('system-shutdown'))
})

t.test('terminations are counted by condition', async (t) => {
  const h = opened()
  h.send(`rid='105'`)
  t.same([...h.observer.terminations], [['item-not-found', 1]])
})

t.test('upstream events after the end are ignored', async (t) => {
  const h = opened()
  h.send(`rid='101' type='terminate'`)
  h.mark()
  h.fromServer(`<message/>`)
  h.session.upstreamClosed({ kind: 'closed' })
  h.session.upstreamOpened({ secure: false }, upstreamElement(FEATURES_XML))
  h.session.shutdown()
  t.same(h.wire.log, [])
  t.equal(h.ends.length, 1)
})

t.test('a port that calls back synchronously is handled after the current input', async (t) => {
  const h = opened()
  h.send(`rid='101'`)
  const originalClose = h.upstream.close.bind(h.upstream)
  h.upstream.close = () => {
    originalClose()
    h.session.upstreamClosed({ kind: 'closed' }) // re-entrant
  }
  const r = h.send(`rid='102' type='terminate'`)
  t.equal(r.body, `${BODY} type='terminate'/>`)
  t.same(h.ends.map((e) => e.reason), ['client-close'])
})
