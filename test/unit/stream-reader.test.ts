import t from 'tap'
import type { Test } from 'tap'
import { XmlStreamReader } from '../../src/core/xml/stream-reader.js'
import type { ReaderEvent, XmlLimits } from '../../src/core/xml/stream-reader.js'
import { XML_LIMITS } from '../support/limits.js'

const STREAM_OPEN =
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='s1' version='1.0' xml:lang='en'>"

/** Events rendered as comparable strings. */
function render(events: ReaderEvent[]): string[] {
  return events.map((e) => {
    switch (e.type) {
      case 'stream-start':
        return `start ${e.element.toString()}`
      case 'element':
        return `element ${e.element.toString()}`
      case 'stream-end':
        return 'end'
      case 'error':
        return `error ${e.failure.condition}`
    }
  })
}

function whole(input: string, mode: 'stream' | 'document' = 'stream', limits: XmlLimits = XML_LIMITS): string[] {
  const reader = new XmlStreamReader(mode, limits)
  const events = reader.write(Buffer.from(input, 'utf8'))
  if (mode === 'document') events.push(...reader.end())
  return render(events)
}

function byteByByte(input: string, mode: 'stream' | 'document' = 'stream', limits: XmlLimits = XML_LIMITS): string[] {
  const reader = new XmlStreamReader(mode, limits)
  const bytes = Buffer.from(input, 'utf8')
  const events: ReaderEvent[] = []
  for (let i = 0; i < bytes.length; i++) events.push(...reader.write(bytes.subarray(i, i + 1)))
  if (mode === 'document') events.push(...reader.end())
  return render(events)
}

/** Both feeding strategies must agree; returns the common result. */
function read(t: Test, input: string, mode: 'stream' | 'document' = 'stream', limits?: XmlLimits): string[] {
  const a = whole(input, mode, limits)
  t.same(byteByByte(input, mode, limits), a, 'byte-by-byte feeding gives the same events as whole input')
  return a
}

t.test('a stream header, features, stanzas and the end tag, in order', (t) => {
  const input =
    STREAM_OPEN +
    "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>" +
    ' \n ' +
    "<message to='bob@localhost' type='chat'><body>one</body></message>" +
    "<iq type='get' id='2'><query xmlns='jabber:iq:roster'/></iq>" +
    '</stream:stream>'
  t.same(read(t, input), [
    "start <stream:stream xmlns=\"jabber:client\" xmlns:stream=\"http://etherx.jabber.org/streams\" from=\"localhost\" id=\"s1\" version=\"1.0\" xml:lang=\"en\"/>",
    'element <stream:features><mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>PLAIN</mechanism></mechanisms></stream:features>',
    'element <message to="bob@localhost" type="chat"><body>one</body></message>',
    'element <iq type="get" id="2"><query xmlns="jabber:iq:roster"/></iq>',
    'end',
  ])
  t.end()
})

t.test('a multibyte character split across reads survives', (t) => {
  const text = 'é 😀 中文 <&> \'"'
  const input = STREAM_OPEN + `<message><body>${text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;')}</body></message>`
  const reader = new XmlStreamReader('stream', XML_LIMITS)
  const bytes = Buffer.from(input)
  const events: ReaderEvent[] = []
  for (let i = 0; i < bytes.length; i++) events.push(...reader.write(bytes.subarray(i, i + 1)))
  const message = events.find((e) => e.type === 'element')
  t.ok(message && message.type === 'element')
  if (message?.type === 'element') t.equal(message.element.getChildText('body'), text)
  t.end()
})

t.test('CDATA becomes text, and text after it is kept', (t) => {
  const events = read(t, STREAM_OPEN + '<message><body>a<![CDATA[<b>&]]]>c]]d</body></message>')
  t.same(events.slice(1), ['element <message><body>a&lt;b&gt;&amp;]c]]d</body></message>'])
  t.end()
})

t.test('entities and character references are expanded', (t) => {
  const events = read(t, STREAM_OPEN + "<message id='&quot;&#65;&#x42;'><body>&lt;&amp;&gt;&apos;&#x1F600;</body></message>")
  t.same(events.slice(1), ['element <message id="&quot;AB"><body>&lt;&amp;&gt;\'😀</body></message>'])
  t.end()
})

t.test('RFC 6120 §11.1 restricted XML: refused with restricted-xml', (t) => {
  const cases: Record<string, string> = {
    comment: '<message><!-- hi --></message>',
    'processing instruction': '<message><?php echo 1 ?></message>',
    doctype: "<!DOCTYPE foo [<!ENTITY x 'y'>]>",
    'entity declaration': "<!ENTITY x 'y'>",
  }
  for (const [name, bad] of Object.entries(cases)) {
    t.same(read(t, STREAM_OPEN + bad).slice(1), ['error restricted-xml'], name)
  }
  t.same(read(t, "<!DOCTYPE a><a/>", 'document'), ['error restricted-xml'], 'DOCTYPE before the root')
  t.same(read(t, "<a/><?x?>", 'document'), ['element <a/>', 'error restricted-xml'], 'PI after the root')
  t.same(read(t, "<?xml version='1.0'?><a/>", 'document'), ['element <a/>'], 'the XML declaration itself is allowed at the start')
  t.end()
})

t.test('not-well-formed input is refused with not-well-formed', (t) => {
  const cases: Record<string, string> = {
    'unknown entity': '<message><body>&nbsp;</body></message>',
    'stray ampersand': '<message><body>a & b</body></message>',
    'illegal char reference': '<message><body>&#0;</body></message>',
    'mismatched end tag': '<message><body></message>',
    'attribute without value': '<message to></message>',
    'unquoted attribute': '<message to=bob></message>',
    'duplicate attribute': "<message to='a' to='b'/>",
    "'<' in an attribute": "<message to='<'/>",
    'control character': '<message>\u0001</message>',
    'bad name start': '<1message/>',
    'end tag at top': '</nothing>',
  }
  for (const [name, bad] of Object.entries(cases)) {
    const events = read(t, STREAM_OPEN + bad)
    t.same(events.slice(1), ['error not-well-formed'], name)
  }
  t.end()
})

t.test('invalid UTF-8 is not-well-formed', (t) => {
  const reader = new XmlStreamReader('stream', XML_LIMITS)
  t.same(render(reader.write(Buffer.from(STREAM_OPEN))).length, 1)
  const events = reader.write(Buffer.concat([Buffer.from('<message><body>'), Buffer.from([0xc3, 0x28]), Buffer.from('</body></message>')]))
  t.same(render(events), ['error not-well-formed'])
  t.end()
})

t.test('document mode: exactly one root element', (t) => {
  t.same(read(t, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>", 'document'), [
    'element <open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="localhost" version="1.0"/>',
  ])
  t.same(read(t, '<a/><b/>', 'document'), ['element <a/>', 'error not-well-formed'], 'a second root element')
  t.same(read(t, '<a>', 'document'), ['error not-well-formed'], 'an incomplete element')
  t.same(read(t, '', 'document'), ['error not-well-formed'], 'nothing at all')
  t.same(read(t, 'text<a/>', 'document'), ['error not-well-formed'], 'text outside the root')
  t.same(read(t, '  <a/>  ', 'document'), ['element <a/>'], 'whitespace around the root is fine')
  t.end()
})

t.test('limits: byte budget per stanza, depth, attributes', (t) => {
  const limits: XmlLimits = { ...XML_LIMITS, maxStanzaBytes: 150, maxDepth: 4, maxAttributes: 4, maxAttributeValueBytes: 40 }
  t.same(read(t, STREAM_OPEN.replace(/ from=.*version/, ' version') + `<message><body>${'x'.repeat(140)}</body></message>`, 'stream', limits).slice(1), [
    'error policy-violation',
  ], 'a stanza over the budget')
  const small = '<message><body>' + 'x'.repeat(40) + '</body></message>'
  const header = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
  t.same(
    read(t, header + small + small + small, 'stream', limits).slice(1),
    [`element ${small}`, `element ${small}`, `element ${small}`],
    'the budget resets after each stanza',
  )
  t.same(read(t, header + '<a><b><c></c></b></a>', 'stream', limits).slice(1), ['element <a><b><c/></b></a>'], 'depth 4 is allowed')
  t.same(read(t, header + '<a><b><c><d>', 'stream', limits).slice(1), ['error policy-violation'], 'depth 5 is not')
  t.same(read(t, header + "<a v='0' w='1' x='2' y='3' z='4'/>", 'stream', limits).slice(1), ['error policy-violation'], 'too many attributes')
  t.same(read(t, header + `<a w='${'v'.repeat(41)}'/>`, 'stream', limits).slice(1), ['error policy-violation'], 'attribute value too long')
  t.same(read(t, header + ' '.repeat(151), 'stream', limits).slice(1), ['error policy-violation'], 'whitespace floods count too')
  t.end()
})

t.test('10,000-deep nesting stops at the depth limit without recursion', (t) => {
  const events = whole(STREAM_OPEN + '<a>'.repeat(10_000))
  t.same(events.slice(1), ['error policy-violation'])
  t.end()
})

t.test('an unterminated attribute is cut at the budget', (t) => {
  const reader = new XmlStreamReader('stream', XML_LIMITS)
  const events: ReaderEvent[] = [...reader.write(STREAM_OPEN + "<message to='")]
  const chunk = 'x'.repeat(16 * 1024)
  let rounds = 0
  while (!reader.failed && rounds < 1000) {
    events.push(...reader.write(chunk))
    rounds++
  }
  t.same(render(events).slice(1), ['error policy-violation'])
  t.ok(rounds <= 5, `stopped after ${rounds} chunks of 16 KiB`)
  t.end()
})

t.test('after an error the reader is inert; reset() starts a new stream', (t) => {
  const reader = new XmlStreamReader('stream', XML_LIMITS)
  t.same(render(reader.write(STREAM_OPEN + '<!-- x -->')).slice(1), ['error restricted-xml'])
  t.same(reader.write('<message/>'), [])
  reader.reset()
  t.same(render(reader.write(STREAM_OPEN + '<message/>')).slice(1), ['element <message/>'])
  t.end()
})

t.test('reset() for a stream restart (RFC 6120 §4.3.3)', (t) => {
  const reader = new XmlStreamReader('stream', XML_LIMITS)
  t.same(render(reader.write(STREAM_OPEN + "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")).length, 2)
  reader.reset()
  const again = render(reader.write(STREAM_OPEN.replace("id='s1'", "id='s2'") + '<stream:features/>'))
  t.match(again[0], /id="s2"/)
  t.same(again.slice(1), ['element <stream:features/>'])
  t.end()
})

t.test('a large stanza split across many reads comes out once, whole', (t) => {
  const reader = new XmlStreamReader('stream', XML_LIMITS)
  reader.write(STREAM_OPEN)
  const body = 'x'.repeat(200_000)
  const bytes = Buffer.from(`<message><body>${body}</body></message>`)
  const events: ReaderEvent[] = []
  for (let i = 0; i < bytes.length; i += 1000) events.push(...reader.write(bytes.subarray(i, i + 1000)))
  t.equal(events.length, 1)
  const [only] = events
  t.equal(only?.type === 'element' ? only.element.getChildText('body') : undefined, body)
  t.end()
})

t.test('XML 1.0 §3.3.3: literal TAB, CR, LF in attribute values read as spaces, at any depth; references to them do not', (t) => {
  for (const mode of ['stream', 'document'] as const) {
    const reader = new XmlStreamReader(mode, XML_LIMITS)
    const input = (mode === 'stream' ? STREAM_OPEN : '') + "<m a='x\ty'><c b='p\r\nq\rr\ns' d='&#9;&#10;&#13;'/><c b='plain'>t\te\nxt</c></m>"
    const events = reader.write(Buffer.from(input, 'utf8'))
    const element = events.find((e) => e.type === 'element')
    const m = element?.type === 'element' ? element.element : undefined
    t.equal(m?.attrs.a, 'x y', `${mode}: the element's own value`)
    const [c1, c2] = m?.getChildren('c') ?? []
    t.same(c1?.attrs, { b: 'p q r s', d: '\t\n\r' }, `${mode}: a child's values`)
    t.same(c2?.attrs, { b: 'plain' }, `${mode}: untouched`)
    t.equal(c2?.getText(), 't\te\nxt', `${mode}: text is not an attribute value`)
  }
  t.end()
})
