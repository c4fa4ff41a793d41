/**
 * What the cores tell operators beyond the relay: the login's outcome
 * (SASL failure, bound JID) from the client stream, both session cores
 * passing it on, and an operator's kill going through each core's one
 * terminate path. ManualClock and recording fakes, exact wire order.
 */
import t from 'tap'
import type { Element } from 'ltx'
import type { XmlElement } from '../../src/core/xml/tokenizer.js'
import { ClientStream } from '../../src/core/xmpp/client-stream.js'
import type { UpstreamEnd, UpstreamHeader, UpstreamSink } from '../../src/core/xmpp/upstream-port.js'
import { FakeLink } from '../support/fake-link.js'
import { Wire } from '../support/fake-upstream.js'
import { ManualClock } from '../support/manual-clock.js'
import { FEATURES_BIND, FEATURES_PLAIN, LOOPBACK, SASL2_NS, SASL_NS, SETTINGS, serverHeader } from './xmpp/fakes.js'
import { CLIENT_CLOSE, OPEN, STREAM_ERROR, SessionHarness } from './websocket/fakes.js'
import { BODY, Harness } from './bosh/fakes.js'

/** A sink that records only what this file is about. */
class LoginSink implements UpstreamSink {
  readonly log: string[] = []
  upstreamOpened(_header: UpstreamHeader, _features: Element): void {}
  upstreamStanza(element: XmlElement): void {
    this.log.push(`element ${element.localName}`)
  }
  upstreamBatchEnd(): void {}
  upstreamAuthenticated(): void {
    this.log.push('authenticated')
  }
  upstreamAuthFailed(condition: string): void {
    this.log.push(`auth-failed ${condition}`)
  }
  upstreamBound(jid: string): void {
    this.log.push(`bound ${jid}`)
  }
  upstreamWritable(): void {}
  upstreamClosed(end: UpstreamEnd): void {
    this.log.push(`end ${end.kind}`)
  }
}

function openStream(): { stream: ClientStream; sink: LoginSink; server: (xml: string) => void } {
  const sink = new LoginSink()
  const wire = new Wire()
  const stream = new ClientStream(SETTINGS, new ManualClock(), sink, () => new FakeLink(wire))
  stream.open({ to: 'example.com' })
  stream.linkUp(LOOPBACK)
  const server = (xml: string) => stream.linkData(Buffer.from(xml, 'utf8'))
  server(serverHeader() + FEATURES_PLAIN)
  return { stream, sink, server }
}

t.test('RFC 6120 §6.5: a SASL <failure/> is reported with its condition, and forwarded as ever; a retry can still succeed', async (t) => {
  const { sink, server } = openStream()
  server(`<failure xmlns='${SASL_NS}'><not-authorized/><text xml:lang='en'>Invalid username or password</text></failure>`)
  server(`<failure xmlns='${SASL_NS}'><account-disabled/></failure>`)
  server(`<failure xmlns='${SASL_NS}'/>`)
  server(`<success xmlns='${SASL_NS}'/>`)
  t.same(sink.log, [
    'auth-failed not-authorized',
    'element failure',
    'auth-failed account-disabled',
    'element failure',
    'auth-failed not-authorized',
    'element failure',
    'authenticated',
    'element success',
  ])
})

t.test('XEP-0388 §2.6: a SASL2 <failure/> is reported the same way', async (t) => {
  const { sink, server } = openStream()
  server(`<failure xmlns='${SASL2_NS}'><aborted xmlns='${SASL_NS}'/></failure>`)
  t.same(sink.log, ['auth-failed aborted', 'element failure'])
})

t.test('RFC 6120 §7.6.1: the bind result names the JID once; nothing is looked at after that', async (t) => {
  const { stream, sink, server } = openStream()
  server(`<success xmlns='${SASL_NS}'/>`)
  stream.restart()
  server(serverHeader('s2') + FEATURES_BIND)
  server(`<iq type='result' id='x'/>`)
  server(`<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>juliet@example.com/balcony</jid></bind></iq>`)
  server(`<iq type='result' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>someone@else/x</jid></bind></iq>`)
  server(`<failure xmlns='${SASL_NS}'><not-authorized/></failure>`)
  t.same(sink.log, ['authenticated', 'element success', 'element iq', 'bound juliet@example.com/balcony', 'element iq', 'element iq', 'element failure'])
})

t.test('XEP-0388 §2.5: SASL2 success with a full JID (Bind 2) is the bound JID; a bare one is not', async (t) => {
  const full = openStream()
  full.server(`<success xmlns='${SASL2_NS}'><authorization-identifier>juliet@example.com/balcony</authorization-identifier></success>`)
  t.same(full.sink.log, ['authenticated', 'bound juliet@example.com/balcony', 'element success'])
  const bare = openStream()
  bare.server(`<success xmlns='${SASL2_NS}'><authorization-identifier>juliet@example.com</authorization-identifier></success>`)
  t.same(bare.sink.log, ['authenticated', 'element success'])
})

t.test('a bind result before authentication is not a bound JID', async (t) => {
  const { sink, server } = openStream()
  server(`<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>juliet@example.com/balcony</jid></bind></iq>`)
  t.same(sink.log, ['element iq'])
})

t.test('the WebSocket core passes the login events to its observer', async (t) => {
  const h = new SessionHarness().opened()
  const sink = h.upstream.sink
  t.ok(sink?.upstreamAuthFailed && sink.upstreamBound, 'the session implements both')
  sink?.upstreamAuthFailed?.('not-authorized')
  sink?.upstreamBound?.('alice@example.com/web')
  t.same(h.observer.authFailures, ['not-authorized'])
  t.same(h.observer.boundJids, ['alice@example.com/web'])
})

t.test('the BOSH core passes the login events to its observer', async (t) => {
  const h = new Harness()
  h.open()
  h.upstream.sink?.upstreamAuthFailed?.('not-authorized')
  h.upstream.sink?.upstreamBound?.('alice@example.com/web')
  t.same(h.observer.authFailures, ['not-authorized'])
  t.same(h.observer.boundJids, ['alice@example.com/web'])
})

t.test('WebSocket kill(): the stream error, <close/>, close 1000, and the server stream closed politely (no XEP-0198 resumption)', async (t) => {
  const h = new SessionHarness().opened()
  h.mark()
  h.session.kill()
  t.same(h.wire.log, ['upstream close', `client ${STREAM_ERROR('policy-violation', 'session ended by the operator')}`, CLIENT_CLOSE, 'close 1000'])
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'killed', condition: 'policy-violation', text: 'session ended by the operator' }])
  h.session.kill('conflict')
  t.equal(h.observer.ends.length, 1, 'a second kill changes nothing')
})

t.test('WebSocket kill() with a condition, before the stream opened', async (t) => {
  const h = new SessionHarness()
  h.client(OPEN())
  h.mark()
  h.session.kill('system-shutdown', 'maintenance')
  t.match(h.wire.log.join('\n'), /<system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/><text[^>]*>maintenance<\/text>/)
  h.session.peerClosed()
  t.same(h.observer.ends, [{ reason: 'killed', condition: 'system-shutdown', text: 'maintenance' }])
})

t.test('BOSH kill(): the held request gets the condition, then the server stream is closed; the sid then answers item-not-found', async (t) => {
  const h = new Harness()
  h.open()
  const held = h.send(`rid='101'`)
  h.mark()
  h.session.kill()
  t.same(h.wire.log, [`reply rid=101 ${BODY} type='terminate' condition='policy-violation'/>`, 'upstream close'])
  t.same(h.ends, [{ reason: 'killed', condition: 'policy-violation', text: 'session ended by the operator' }])
  t.ok(held.answered)
  t.equal(h.disposed, 1)
})

t.test('BOSH kill() with nothing held: the next request hears the condition (XEP-0124 §17.2 wire form)', async (t) => {
  const h = new Harness()
  h.open()
  h.send(`rid='101'`) // held
  h.fromServer(`<message id='m1'/>`) // answers it: nothing held now
  h.mark()
  h.session.kill('see-other-uri')
  t.same(h.wire.log, ['upstream close'])
  const next = h.send(`rid='102'`)
  t.equal(next.body, `${BODY} type='terminate' condition='see-other-uri'/>`)
})
