import t from 'tap'
import { toElement } from '../../src/core/xml/element.js'
import { parse } from 'ltx'
import {
  CLOSE_MESSAGE,
  clientMessage,
  openMessage,
  parseClientMessage,
  streamErrorMessages,
} from '../../src/core/websocket/framing.js'
import { XML_LIMITS } from '../support/limits.js'
import { clientVisibleFeatures, starttlsOffer } from '../../src/core/xmpp/stream-features.js'
import { checkStreamHeader, streamHeader } from '../../src/core/xmpp/stream-header.js'
import { XmlStreamReader } from '../../src/core/xml/stream-reader.js'

const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing'
const frame = (message: string) => parseClientMessage(message, XML_LIMITS)

t.test('RFC 7395 §3.4: <open/> in the framing namespace opens the stream', (t) => {
  t.same(frame(`<open xmlns='${FRAMING}' to='Example.COM' version='1.0' xml:lang='fr'/>`), {
    kind: 'open',
    to: 'Example.COM',
    lang: 'fr',
    from: undefined,
  })
  t.same(frame(`<open xmlns='${FRAMING}' to='x' version='2.0'/>`), { kind: 'error', failure: { condition: 'unsupported-version', text: 'XMPP version 1.0 is required' } })
  t.match(frame(`<open xmlns='${FRAMING}' to='x'/>`), { kind: 'error', failure: { condition: 'unsupported-version' } })
  t.match(frame("<open xmlns='jabber:client' to='x' version='1.0'/>"), { kind: 'error', failure: { condition: 'invalid-namespace' } })
  t.match(frame("<stream:open xmlns:stream='urn:ietf:params:xml:ns:xmpp-framing' to='x' version='1.0'/>"), { kind: 'error', failure: { condition: 'invalid-namespace' } })
  // RFC 6120 §4.9.3.10: a top-level element taken out of every namespace is not a stanza in a supported one.
  t.match(frame('<enable xmlns=""\n/>'), { kind: 'error', failure: { condition: 'invalid-namespace' } })
  t.match(frame("<message xmlns='' to='a@b'><body>x</body></message>"), { kind: 'error', failure: { condition: 'invalid-namespace' } })
  t.end()
})

t.test('RFC 7395 §3.6: <close/>', (t) => {
  t.same(frame(`<close xmlns='${FRAMING}'/>`), { kind: 'close' })
  t.same(frame(CLOSE_MESSAGE), { kind: 'close' })
  t.end()
})

t.test('RFC 7395 §3.3.3: one element per message', (t) => {
  const message = frame("<message xmlns='jabber:client' to='bob@localhost'><body>hi &amp; bye</body></message>")
  t.equal(message.kind, 'element')
  if (message.kind === 'element') t.equal(toElement(message.element).getChildText('body'), 'hi & bye')
  t.match(frame("<message xmlns='jabber:client'/><message xmlns='jabber:client'/>"), { kind: 'error', failure: { condition: 'not-well-formed' } })
  t.match(frame(''), { kind: 'error', failure: { condition: 'not-well-formed' } })
  t.match(frame('hello'), { kind: 'error', failure: { condition: 'not-well-formed' } })
  t.match(frame("<stream:features/>"), { kind: 'error', failure: { condition: 'bad-namespace-prefix' } })
  t.match(frame(`<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>`), { kind: 'error', failure: { condition: 'unsupported-stanza-type' } })
  t.match(frame(`<bogus xmlns='${FRAMING}'/>`), { kind: 'error', failure: { condition: 'unsupported-stanza-type' } })
  const bare = frame('<presence/>')
  t.equal(bare.kind, 'element', 'an element without xmlns is read as jabber:client, as on TCP')
  if (bare.kind === 'element') {
    t.equal(new TextDecoder().decode(bare.element.bytes), '<presence/>', 'it goes upstream as sent: inside the stream it inherits jabber:client')
    t.equal(bare.element.namespace(), undefined, 'no namespace of its own')
  }
  t.end()
})

t.test('upstream elements become standalone messages with their namespaces declared', (t) => {
  const reader = new XmlStreamReader('stream', XML_LIMITS)
  const events = reader.write(
    streamHeader({ to: 'localhost' }).replace("to='localhost'", "from='localhost' id='abc'") +
      "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>" +
      "<message from='a@localhost/r'><body>x</body></message>" +
      "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
  )
  const elements = events.flatMap((e) => (e.type === 'element' ? [e.element] : []))
  t.same(elements.map(clientMessage), [
    '<stream:features xmlns:stream="http://etherx.jabber.org/streams"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></stream:features>',
    '<message from="a@localhost/r" xmlns="jabber:client"><body>x</body></message>',
    '<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>',
  ])
  for (const message of elements.map(clientMessage)) {
    t.doesNotThrow(() => parse(message), 'each message parses on its own')
  }
  t.end()
})

t.test('RFC 7395 §3.4: the <open/> answer carries from, id, version, xml:lang', (t) => {
  t.equal(
    openMessage({ from: 'localhost', id: "a'b", version: '1.0', lang: 'en' }),
    `<open xmlns='${FRAMING}' from='localhost' id='a&apos;b' version='1.0' xml:lang='en'/>`,
  )
  t.equal(openMessage({}), `<open xmlns='${FRAMING}' version='1.0'/>`)
  t.end()
})

t.test('RFC 7395 §3.6.1: a stream error is followed by <close/>', (t) => {
  t.same(streamErrorMessages({ condition: 'host-unknown', text: 'no <such> host' }), [
    "<stream:error xmlns:stream='http://etherx.jabber.org/streams'><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>no &lt;such&gt; host</text></stream:error>",
    CLOSE_MESSAGE,
  ])
  t.end()
})

t.test('features: STARTTLS and channel binding stay with Causeway', (t) => {
  const features = parse(
    "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>" +
      "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>" +
      "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism>SCRAM-SHA-1</mechanism><mechanism>scram-sha-256-plus</mechanism><mechanism>PLAIN</mechanism></mechanisms>" +
      "<sm xmlns='urn:xmpp:sm:3'/>" +
      '</stream:features>',
  )
  t.same(starttlsOffer(features), { offered: true, required: true })
  const visible = clientVisibleFeatures(features)
  t.equal(
    visible.toString(),
    '<stream:features xmlns:stream="http://etherx.jabber.org/streams"><mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms><sm xmlns="urn:xmpp:sm:3"/></stream:features>',
  )
  t.same(starttlsOffer(visible), { offered: false, required: false })
  t.end()
})

t.test('RFC 6120 §4.7.5: the upstream header is checked', (t) => {
  const header = parse
  t.equal(checkStreamHeader(header("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'/>")), 'ok')
  t.equal(checkStreamHeader(header("<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'/>")), 'invalid-namespace')
  t.equal(checkStreamHeader(header("<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong' version='1.0'/>")), 'invalid-namespace')
  t.equal(checkStreamHeader(header("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'/>")), 'unsupported-version')
  t.end()
})

t.test('the stream header escapes what it is given', (t) => {
  t.equal(
    streamHeader({ to: "a'b", lang: 'en' }),
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='a&apos;b' version='1.0' xml:lang='en'>",
  )
  t.end()
})
