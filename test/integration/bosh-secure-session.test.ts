/**
 * XEP-0124 §19 over real HTTP: a BOSH session created over HTTPS is never
 * served over plain HTTP. Causeway sits behind a trusted TLS-terminating
 * proxy here, whose X-Forwarded-Proto says which scheme each request used;
 * a plain request for the session has its connection closed with no
 * answer, and the session carries on over HTTPS.
 */
import t from 'tap'
import { startCauseway } from '../helpers/causeway.js'
import { startProsody } from '../helpers/prosody.js'

const HTTPBIND = "xmlns='http://jabber.org/protocol/httpbind'"

const prosody = await startProsody({ users: [{ username: 'alice', password: 'pw' }] })
t.teardown(() => prosody.stop())

async function post(url: string, body: string, proto: 'http' | 'https'): Promise<string> {
  const response = await fetch(url, { method: 'POST', body, headers: { 'x-forwarded-proto': proto, 'x-forwarded-for': '203.0.113.20' } })
  return response.text()
}

t.test('an https session asked over http: connection closed, session kept', async (t) => {
  const causeway = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`], trustedProxy: ['127.0.0.1'] })
  t.teardown(() => causeway.stop())
  const created = await post(causeway.boshUrl, `<body ${HTTPBIND} rid='500' to='localhost' wait='2' hold='1' ver='1.11' xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0'/>`, 'https')
  const sid = /sid='([^']+)'/.exec(created)?.[1] ?? ''
  t.ok(sid, 'created over https')

  // A sniffed sid replayed over plain HTTP: the connection is simply closed.
  await t.rejects(post(causeway.boshUrl, `<body ${HTTPBIND} sid='${sid}' rid='501' type='terminate'/>`, 'http'), /fetch failed|other side closed|socket/i)
  t.equal(causeway.causeway.bosh.registry.size, 1, 'the session survives')

  // Over https the same rid is served: the plain request did not count.
  const next = await post(causeway.boshUrl, `<body ${HTTPBIND} sid='${sid}' rid='501'/>`, 'https')
  t.match(next, /<body /)
  t.notMatch(next, /type='terminate'/)
  const metrics = await causeway.causeway.metrics.registry.getSingleMetricAsString('causeway_refusals_total')
  t.match(metrics, /causeway_refusals_total\{transport="bosh",reason="insecure-request"\} 1/)
  t.match(causeway.logText(), /"remote":"203\.0\.113\.20"/, 'the forwarded client is who the session belongs to')

  const bye = await post(causeway.boshUrl, `<body ${HTTPBIND} sid='${sid}' rid='502' type='terminate'/>`, 'https')
  t.match(bye, /type='terminate'/)
})

t.test('without a trusted proxy, X-Forwarded-Proto from the client means nothing', async (t) => {
  const causeway = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`] })
  t.teardown(() => causeway.stop())
  const created = await post(causeway.boshUrl, `<body ${HTTPBIND} rid='700' to='localhost' wait='2' hold='1' ver='1.11'/>`, 'https')
  const sid = /sid='([^']+)'/.exec(created)?.[1] ?? ''
  t.ok(sid)
  // The session is a plain-HTTP one (the header was ignored), so plain requests are served.
  const next = await post(causeway.boshUrl, `<body ${HTTPBIND} sid='${sid}' rid='701' type='terminate'/>`, 'http')
  t.match(next, /type='terminate'/)
  t.notMatch(causeway.logText(), /203\.0\.113\.20/, 'and the forwarded address was not believed')
})
