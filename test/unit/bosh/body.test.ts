import t from 'tap'
import { Element } from 'ltx'
import { parseBody, parseRoute, MAX_RID } from '../../../src/core/bosh/body.js'
import type { CreateRequest, SessionRequest } from '../../../src/core/bosh/body.js'
import { buildBody as buildBodyBytes, buildTerminateBody as buildTerminateBytes, stanzaPayload, toPayload, uriPayload } from '../../../src/core/bosh/payload.js'
import { utf8Length } from '../../../src/core/xml/utf8.js'
import { BODY_LIMITS } from '../../support/limits.js'
import { BODY, HTTPBIND, upstreamElement, upstreamStanzas, wrap } from './fakes.js'

const decoder = new TextDecoder()
const text = (bytes: Uint8Array) => decoder.decode(bytes)
const buildBody = (...args: Parameters<typeof buildBodyBytes>) => text(buildBodyBytes(...args))
const buildTerminateBody = (...args: Parameters<typeof buildTerminateBytes>) => text(buildTerminateBytes(...args))
const stanza = (xml: string) => {
  const [only] = upstreamStanzas(xml)
  if (!only) throw new Error('no stanza')
  return only
}

function failure(xml: string | Uint8Array, maxBodyBytes?: number) {
  const result = parseBody(xml, maxBodyBytes === undefined ? BODY_LIMITS : { ...BODY_LIMITS, maxBodyBytes })
  if (result.ok) throw new Error('expected a failure')
  return result.failure
}

function request(xml: string) {
  const result = parseBody(xml, BODY_LIMITS)
  if (!result.ok) throw new Error(`${result.failure.condition}: ${result.failure.text}`)
  return result.request
}

t.test('XEP-0124 §7.1: a session creation request yields every attribute, typed', async (t) => {
  const req = request(
    `<body xmlns='${HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh' content='text/xml; charset=utf-8' hold='1' rid='1573741820' to='jabber.org'` +
      ` route='xmpp:jabber.org:9999' secure='true' ver='1.6' wait='60' ack='1' xml:lang='en' from='user@jabber.org'` +
      ` newkey='ca393b51b682f61f98e7877d61146407f3d0a770' xmpp:version='1.0'/>`,
  ) as CreateRequest
  t.same(req, {
    kind: 'create',
    rid: 1573741820,
    payload: [],
    stream: undefined,
    key: undefined,
    newkey: 'ca393b51b682f61f98e7877d61146407f3d0a770',
    from: 'user@jabber.org',
    secure: true,
    to: 'jabber.org',
    lang: 'en',
    ver: { major: 1, minor: 6 },
    wait: 60,
    hold: 1,
    content: 'text/xml; charset=utf-8',
    xmppVersion: '1.0',
    route: { proto: 'xmpp', host: 'jabber.org', port: 9999 },
    ack: true,
  })
})

t.test('XEP-0124 §7.1: optional creation attributes may all be absent', async (t) => {
  const req = request(wrap(`rid='5'`)) as CreateRequest
  t.equal(req.kind, 'create')
  t.equal(req.to, undefined)
  t.equal(req.ver, undefined)
  t.equal(req.wait, undefined)
  t.equal(req.hold, undefined)
  t.equal(req.ack, false)
})

t.test('XEP-0124 §8, §13, §10, §9.2, §15, XEP-0206 §5: a session request yields its attributes and detached payloads', async (t) => {
  const req = request(
    `<body xmlns='${HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh' sid='SomeSID' rid='1249243562' type='terminate' condition='undefined-condition'` +
      ` xmpp:restart='true' pause='60' key='k1' newkey='k2' ack='1249243561'>` +
      `<message to='contact@example.com' xmlns='jabber:client'><body>Good morning!</body></message>` +
      `<presence/></body>`,
  ) as SessionRequest
  t.equal(req.kind, 'session')
  t.equal(req.sid, 'SomeSID')
  t.equal(req.rid, 1249243562)
  t.equal(req.terminate, true)
  t.equal(req.condition, 'undefined-condition')
  t.equal(req.restart, true)
  t.equal(req.pause, 60)
  t.equal(req.key, 'k1')
  t.equal(req.newkey, 'k2')
  t.equal(req.ack, 1249243561)
  t.same(
    req.payload.map((el) => text(el.bytes)),
    [`<message to='contact@example.com' xmlns='jabber:client'><body>Good morning!</body></message>`, '<presence/>'],
    'payloads go upstream as the bytes the client sent',
  )
})

t.test('XEP-0206 §5: xmpp:restart is read through whatever prefix is bound to urn:xmpp:xbosh', async (t) => {
  const bound = request(`<body xmlns='${HTTPBIND}' xmlns:x='urn:xmpp:xbosh' sid='s' rid='2' x:restart='true'/>`) as SessionRequest
  t.equal(bound.restart, true)
  const undeclared = request(`<body xmlns='${HTTPBIND}' sid='s' rid='2' xmpp:restart='true'/>`) as SessionRequest
  t.equal(undeclared.restart, true, 'an undeclared xmpp: prefix is still understood')
  const other = request(`<body xmlns='${HTTPBIND}' xmlns:xmpp='urn:other' sid='s' rid='2' xmpp:restart='true'/>`) as SessionRequest
  t.equal(other.restart, false, 'xmpp: bound to another namespace is not xbosh')
})

t.test('XEP-0124 §6: payloads keep the prefixes they borrow from the wrapper; httpbind default becomes jabber:client', async (t) => {
  const req = request(
    `<body xmlns='${HTTPBIND}' xmlns:json='http://json.org/' sid='s' rid='2'>` +
      `<json:json>[]</json:json><iq xmlns='${HTTPBIND}' type='get' id='1'/></body>`,
  )
  t.same(
    req.payload.map((el) => text(el.bytes)),
    ['<json:json xmlns:json="http://json.org/">[]</json:json>', '<iq xmlns="jabber:client" type="get" id="1"/>'],
  )
})

t.test('XEP-0124 §14.1: rid is a positive integer no larger than 2^53 - 1', async (t) => {
  t.equal(request(wrap(`rid='${MAX_RID}'`)).rid, 9007199254740991)
  t.equal(request(wrap(`rid='1'`)).rid, 1)
  for (const rid of ['0', '-1', '+5', '1.5', '1e3', 'abc', '', '9007199254740992', '10000000000000000', '12345678901234567']) {
    t.equal(failure(wrap(`rid='${rid}'`)).condition, 'bad-request', `rid='${rid}'`)
  }
  t.match(failure(wrap(`to='x'`)), { condition: 'bad-request', text: "missing 'rid'" })
})

t.test('XEP-0124 §6: anything but one well-formed httpbind <body/> is bad-request', async (t) => {
  t.equal(failure(`<body rid='1'/>`).condition, 'bad-request', 'no namespace')
  t.equal(failure(`<body xmlns='jabber:client' rid='1'/>`).condition, 'bad-request', 'wrong namespace')
  t.equal(failure(`<bodies xmlns='${HTTPBIND}' rid='1'/>`).condition, 'bad-request', 'wrong name')
  t.equal(failure(`<body xmlns='${HTTPBIND}' rid='1'>`).condition, 'bad-request', 'unclosed')
  t.equal(failure(``).condition, 'bad-request', 'empty')
  t.equal(failure(`<body xmlns='${HTTPBIND}' rid='1'><!-- hi --></body>`).condition, 'bad-request', 'comment (§6 MUST NOT)')
  t.equal(failure(`<?pi x?><body xmlns='${HTTPBIND}' rid='1'/>`).condition, 'bad-request', 'processing instruction')
  t.equal(failure(`<body xmlns='${HTTPBIND}' rid='1'>hello</body>`).condition, 'bad-request', 'character data in the wrapper')
  t.equal(failure(`<body xmlns='${HTTPBIND}' sid='s' rid='1' type='error'/>`).condition, 'bad-request', 'unsupported type')
  t.equal(failure(`<body xmlns='${HTTPBIND}' rid='1' type='terminate'/>`).condition, 'bad-request', 'terminate without a session')
  t.equal(failure(wrap(`rid='1' wait='soon'`)).condition, 'bad-request')
  t.equal(failure(wrap(`rid='1' ver='1'`)).condition, 'bad-request')
  t.equal(failure(wrap(`rid='1' secure='maybe'`)).condition, 'bad-request')
  t.equal(failure(wrap(`rid='1' route='jabber.org'`)).condition, 'bad-request')
  t.equal(failure(wrap(`rid='1' content='text/xml&#10;X-Injected: 1'`)).condition, 'bad-request', 'content must be a header value')
  t.equal(failure(wrap(`sid='s' rid='2' pause='0'`)).condition, 'bad-request')
  t.ok(request(`<body xmlns='${HTTPBIND}' rid='1'>\n  \n</body>`), 'whitespace is not character data')
  t.equal(failure(`<body xmlns='${HTTPBIND}' rid='1'><![CDATA[hello]]></body>`).condition, 'bad-request', 'character data in a CDATA section')
  t.equal(failure(`<body xmlns='${HTTPBIND}' rid='1'>&amp;</body>`).condition, 'bad-request', 'character data written as a reference')
  t.ok(request(`<body xmlns='${HTTPBIND}' rid='1'>&#32;<![CDATA[\n]]>&#x0A;</body>`), 'whitespace however written is not character data')
  t.equal(failure(`<?xml version='1.0' encoding='ISO-8859-1'?><body xmlns='${HTTPBIND}' rid='1'/>`).condition, 'bad-request', 'an encoding other than UTF-8 (RFC 6120 §11.6)')
  t.ok(request(`<?xml version='1.0' encoding='utf-8'?><body xmlns='${HTTPBIND}' rid='1'/>`), 'the XML declaration, UTF-8')
})

t.test('XEP-0124 §6: a failure names the sid when the wrapper had one', async (t) => {
  t.same(failure(wrap(`sid='abc' rid='x'`)), { condition: 'bad-request', text: "'rid' must be a non-negative integer", sid: 'abc' })
  t.equal(failure(`<body xmlns='${HTTPBIND}' sid='abc' rid='1'>`).sid, undefined, 'not when the XML itself is broken')
})

t.test('body size is capped with policy-violation before parsing', async (t) => {
  const big = wrap(`sid='s' rid='2'`, `<message><body>${'x'.repeat(2000)}</body></message>`)
  t.equal(failure(big, 1024).condition, 'policy-violation')
  t.equal(failure(new TextEncoder().encode(big), 1024).condition, 'policy-violation')
  t.ok(parseBody(big, { ...BODY_LIMITS, maxBodyBytes: 4096 }).ok)
})

t.test('bytes and text parse the same, multibyte characters included', async (t) => {
  const xml = wrap(`sid='s' rid='2'`, `<message><body>héllo ☃ 𝄞</body></message>`)
  const fromText = request(xml)
  const bytes = new TextEncoder().encode(xml)
  const result = parseBody(bytes, BODY_LIMITS)
  t.ok(result.ok)
  if (result.ok) t.same(result.request.payload.map(String), fromText.payload.map(String))
})

t.test('XEP-0124 §7.1 route: proto:host:port, not a URI', async (t) => {
  t.same(parseRoute('xmpp:jabber.org:9999'), { proto: 'xmpp', host: 'jabber.org', port: 9999 })
  t.same(parseRoute('xmpp:[::1]:5222'), { proto: 'xmpp', host: '::1', port: 5222 })
  t.equal(parseRoute('xmpp:jabber.org'), undefined)
  t.equal(parseRoute('xmpp::5222'), undefined)
  t.equal(parseRoute('xmpp:host:0'), undefined)
  t.equal(parseRoute('xmpp:host:65536'), undefined)
  t.equal(parseRoute(':host:1'), undefined)
})

t.test('XEP-0124 §6, XEP-0206 §2: buildBody declares xmpp and stream prefixes only when used', async (t) => {
  t.equal(buildBody(), `${BODY}/>`)
  t.equal(buildBody({ sid: 'a', wait: 60, skipped: undefined }), `${BODY} sid='a' wait='60'/>`)
  t.equal(buildBody({ 'xmpp:version': '1.0' }), `${BODY} xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0'/>`)
  const features = toPayload(upstreamElement(`<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>`))
  t.equal(
    buildBody({}, [features]),
    `${BODY} xmlns:stream='http://etherx.jabber.org/streams'><stream:features><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></stream:features></body>`,
  )
  t.equal(buildBody({ from: `a'b"<&>\n` }), `${BODY} from='a&apos;b&quot;&lt;&amp;&gt;&#10;'/>`)
})

t.test('XEP-0206 §2: upstream stanzas get the jabber:client namespace they inherited from the stream, otherwise byte for byte', async (t) => {
  t.equal(text(stanzaPayload(stanza(`<message to='a@b'><body>x</body></message>`)).bytes), `<message xmlns='jabber:client' to='a@b'><body>x</body></message>`)
  t.equal(text(stanzaPayload(stanza(`<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`)).bytes), `<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`)
  const features = stanzaPayload(stanza(`<stream:features/>`))
  t.equal(text(features.bytes), `<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>`)
  t.equal(features.streamPrefix, true)
})

t.test('XEP-0124 §17.2: the terminate body carries type, condition and children', async (t) => {
  t.equal(buildTerminateBody(undefined), `${BODY} type='terminate'/>`)
  t.equal(buildTerminateBody('item-not-found'), `${BODY} type='terminate' condition='item-not-found'/>`)
  t.equal(
    buildTerminateBody('see-other-uri', [uriPayload('https://secure.example/bosh')]),
    `${BODY} type='terminate' condition='see-other-uri'><uri>https://secure.example/bosh</uri></body>`,
  )
  const error = toPayload(new Element('stream:error').c('conflict', { xmlns: 'urn:ietf:params:xml:ns:xmpp-streams' }).up())
  t.equal(
    buildTerminateBody('remote-stream-error', [error]),
    `${BODY} xmlns:stream='http://etherx.jabber.org/streams' type='terminate' condition='remote-stream-error'>` +
      `<stream:error><conflict xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error></body>`,
  )
})

t.test('utf8Length counts UTF-8 bytes', async (t) => {
  for (const s of ['', 'abc', 'é', '☃', '𝄞', 'a𝄞é☃', '\ud800']) t.equal(utf8Length(s), new TextEncoder().encode(s).length, JSON.stringify(s))
})
