/**
 * XmlTokenizer by example: what each mode reports and in which order, what
 * an XmlElement holds, the limits, reuse, and the interned names.
 * The differential test against saxes is test/unit/property/tokenizer-differential.property.test.ts.
 */
import t from 'tap'
import type { Test } from 'tap'
import { XmlTokenizer } from '../../../src/core/xml/tokenizer.js'
import type { FramingMode, XmlElement, XmlSink } from '../../../src/core/xml/tokenizer.js'
import type { XmlLimits } from '../../../src/core/xml/limits.js'
import type { StreamFailure } from '../../../src/core/conditions.js'
import { XML_LIMITS } from '../../support/limits.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { ignoreBOM: true })
const bytes = (s: string): Uint8Array => encoder.encode(s)
const text = (b: Uint8Array): string => decoder.decode(b)

const HEADER = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
const HTTPBIND = 'http://jabber.org/protocol/httpbind'

type Event =
  | { readonly kind: 'rootStart'; readonly element: XmlElement }
  | { readonly kind: 'element'; readonly element: XmlElement }
  | { readonly kind: 'rootEnd' }
  | { readonly kind: 'error'; readonly failure: StreamFailure }

class Events implements XmlSink {
  readonly list: Event[] = []
  rootStart(element: XmlElement): void {
    this.list.push({ kind: 'rootStart', element })
  }
  element(element: XmlElement): void {
    this.list.push({ kind: 'element', element })
  }
  rootEnd(): void {
    this.list.push({ kind: 'rootEnd' })
  }
  error(failure: StreamFailure): void {
    this.list.push({ kind: 'error', failure })
  }
  /** Each event as one line: the element's exact bytes, or the error's condition. */
  rendered(): string[] {
    return this.list.map((e) => {
      switch (e.kind) {
        case 'rootStart':
        case 'element':
          return `${e.kind} ${text(e.element.bytes)}`
        case 'rootEnd':
          return 'rootEnd'
        case 'error':
          return `error ${e.failure.condition}`
      }
    })
  }
}

function tokenizer(mode: FramingMode, limits: XmlLimits = XML_LIMITS): { tokenizer: XmlTokenizer; events: Events } {
  const events = new Events()
  return { tokenizer: new XmlTokenizer(mode, limits, events), events }
}

/** Feed the pieces (strings are UTF-8 encoded), then end(). */
function feed(mode: FramingMode, pieces: ReadonlyArray<string | Uint8Array>, limits: XmlLimits = XML_LIMITS): Events {
  const { tokenizer: tok, events } = tokenizer(mode, limits)
  for (const p of pieces) tok.write(typeof p === 'string' ? bytes(p) : p)
  tok.end()
  return events
}

/** The same input whole and byte by byte must read the same; returns the rendered events. */
function read(t: Test, mode: FramingMode, input: string, limits: XmlLimits = XML_LIMITS): string[] {
  const whole = feed(mode, [input], limits).rendered()
  const all = bytes(input)
  t.same(
    feed(
      mode,
      Array.from(all, (_, i) => all.subarray(i, i + 1)),
      limits,
    ).rendered(),
    whole,
    'byte by byte reads the same as whole',
  )
  return whole
}

function elements(events: Events): XmlElement[] {
  return events.list.flatMap((e) => (e.kind === 'element' || e.kind === 'rootStart' ? [e.element] : []))
}

function only(events: Events, kind: 'element' | 'rootStart' = 'element'): XmlElement {
  const found = events.list.filter((e) => e.kind === kind)
  if (found.length !== 1) throw new Error(`expected one ${kind}, got ${events.rendered().join(' | ')}`)
  return (found[0] as { element: XmlElement }).element
}

// ─── modes ──────────────────────────────────────────────────────────────────

t.test('stream mode: rootStart, one element per child of the root, rootEnd', (t) => {
  const input = `<?xml version='1.0'?>\n${HEADER}\n  <stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>\n<message to='a@b'><body>hi</body></message> \n<presence/></stream:stream>\n`
  t.same(read(t, 'stream', input), [
    `rootStart ${HEADER}`,
    "element <stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
    "element <message to='a@b'><body>hi</body></message>",
    'element <presence/>',
    'rootEnd',
  ])
  t.end()
})

t.test('stream mode: each event comes with the byte that completes it, and no sooner', (t) => {
  const { tokenizer: tok, events } = tokenizer('stream')
  const steps: Array<[string, string[]]> = [
    [HEADER.slice(0, -1), []],
    ['>', [`rootStart ${HEADER}`]],
    ['<message><body>x</body></message', [`rootStart ${HEADER}`]],
    ['>', [`rootStart ${HEADER}`, 'element <message><body>x</body></message>']],
    ['</stream:stream', [`rootStart ${HEADER}`, 'element <message><body>x</body></message>']],
    ['>', [`rootStart ${HEADER}`, 'element <message><body>x</body></message>', 'rootEnd']],
  ]
  for (const [piece, expected] of steps) {
    tok.write(bytes(piece))
    t.same(events.rendered(), expected, `after ${JSON.stringify(piece)}`)
  }
  t.equal(tok.started, true)
  t.equal(tok.failed, false)
  t.end()
})

t.test('stream mode: an unfinished stream is not an error at end(); a self-closed root is rootStart then rootEnd', (t) => {
  t.same(read(t, 'stream', `${HEADER}<message>`), [`rootStart ${HEADER}`])
  t.same(read(t, 'stream', "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>"), ["rootStart <stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>", 'rootEnd'])
  t.same(read(t, 'stream', `${HEADER}</stream:stream><stream:stream>`), [`rootStart ${HEADER}`, 'rootEnd', 'error not-well-formed'], 'a second root')
  t.end()
})

t.test('message mode (RFC 7395): exactly one element, the root itself', (t) => {
  t.same(read(t, 'message', "<message xmlns='jabber:client'><body>a</body></message>"), ["element <message xmlns='jabber:client'><body>a</body></message>"])
  t.same(read(t, 'message', "\ufeff<?xml version='1.0'?> <open/>\n"), ['element <open/>'], 'a byte-order mark, the XML declaration and whitespace around the root')
  t.same(read(t, 'message', '<a/><b/>'), ['element <a/>', 'error not-well-formed'], 'a second root is refused after the first came out')
  t.same(read(t, 'message', '<a>'), ['error not-well-formed'], 'an unfinished element, at end()')
  t.same(read(t, 'message', ''), ['error not-well-formed'], 'nothing at all')
  t.same(read(t, 'message', '  '), ['error not-well-formed'], 'only whitespace')
  t.same(read(t, 'message', '<a/>x'), ['element <a/>', 'error not-well-formed'], 'text after the root')
  const { tokenizer: tok, events } = tokenizer('message')
  tok.write(bytes('<a/>'))
  t.equal(tok.complete, true, 'complete once the root is closed')
  tok.end()
  t.same(events.rendered(), ['element <a/>'])
  t.end()
})

t.test('body mode (XEP-0124): rootStart for <body>, its children, rootEnd; the whole document is one budget', (t) => {
  const input = `<body rid='1' xmlns='${HTTPBIND}'><message/> <iq type='get'><query/></iq></body>`
  t.same(read(t, 'body', input), [`rootStart <body rid='1' xmlns='${HTTPBIND}'>`, 'element <message/>', "element <iq type='get'><query/></iq>", 'rootEnd'])
  t.same(read(t, 'body', `<body rid='2' xmlns='${HTTPBIND}'/>`), [`rootStart <body rid='2' xmlns='${HTTPBIND}'/>`, 'rootEnd'], 'an empty body')
  t.same(read(t, 'body', '<body>'), ['rootStart <body>', 'error not-well-formed'], 'an unclosed body, at end()')
  t.end()
})

t.test('body mode: rootText tells whether character data sits directly inside <body>', (t) => {
  const check = (input: string): boolean => {
    const { tokenizer: tok } = tokenizer('body')
    tok.write(bytes(input))
    tok.end()
    t.equal(tok.failed, false, input)
    return tok.rootText
  }
  t.equal(check('<body> \n\t<a>text inside a child</a> </body>'), false, 'whitespace only')
  t.equal(check('<body>hello<a/></body>'), true, 'text')
  t.equal(check('<body>&amp;</body>'), true, 'a reference')
  t.equal(check('<body>é</body>'), true, 'a non-ASCII character')
  t.end()
})

// ─── the element ────────────────────────────────────────────────────────────

t.test('XmlElement.bytes is exactly the input from < to >', (t) => {
  const stanza = '<message\tto = "a@b"\r\n  id=\'&apos;1&apos;\'><body>é &lt;&#x1F600; <![CDATA[<raw>&]]> 😀 a>b</body  ></message >'
  const element = only(feed('stream', [`${HEADER}  \r\n${stanza}\n\n`]))
  t.equal(text(element.bytes), stanza, 'no whitespace around, references and CDATA as written, CRLF kept')
  t.same(Array.from(element.bytes), Array.from(bytes(stanza)), 'byte for byte')
  const message = only(feed('message', ['\n <a b=">">&gt;</a> \n']))
  t.equal(text(message.bytes), '<a b=">">&gt;</a>', "a '>' inside an attribute value does not end the tag")
  t.end()
})

t.test('name, localName, prefix and nameEnd', (t) => {
  const [root, features, message] = elements(feed('stream', [`${HEADER}<stream:features/><message/>`]))
  t.same([root?.name, root?.prefix, root?.localName], ['stream:stream', 'stream', 'stream'])
  t.same([features?.name, features?.prefix, features?.localName], ['stream:features', 'stream', 'features'])
  t.same([message?.name, message?.prefix, message?.localName], ['message', undefined, 'message'])
  t.equal(message?.nameEnd, '<message'.length, 'nameEnd: just after the name')
  const named = only(feed('message', ['<名前 a="1"/>']))
  t.equal(named.name, '名前')
  t.equal(named.nameEnd, 1 + bytes('名前').length, 'nameEnd counts bytes')
  t.equal(text(named.bytes.subarray(0, named.nameEnd)), '<名前')
  t.end()
})

t.test('attr(): references expanded, either quote, absent → undefined; has(); attrs() in document order', (t) => {
  const e = only(feed('message', [`<m a='&amp;&lt;&gt;&quot;&apos;' b="&#65;&#x42;&#x1F600;é" c='' d="it's" e='say "hi"' Type='upper'/>`]))
  t.equal(e.attr('a'), `&<>"'`, 'the five predefined entities')
  t.equal(e.attr('b'), 'AB😀é', 'decimal and hexadecimal character references, and UTF-8')
  t.equal(e.attr('c'), '', 'an empty value is not absent')
  t.equal(e.attr('d'), "it's")
  t.equal(e.attr('e'), 'say "hi"')
  t.equal(e.attr('zzz'), undefined, 'absent')
  t.equal(e.attr('type'), undefined, 'names are case-sensitive')
  t.equal(e.attr('Type'), 'upper')
  t.same([e.has('a'), e.has('c'), e.has('Type'), e.has('type'), e.has('zzz'), e.has('')], [true, true, true, false, false, false])
  t.same(Object.entries(e.attrs()), [
    ['a', `&<>"'`],
    ['b', 'AB😀é'],
    ['c', ''],
    ['d', "it's"],
    ['e', 'say "hi"'],
    ['Type', 'upper'],
  ])
  t.same(only(feed('message', ['<m/>'])).attrs(), {}, 'no attributes')
  t.equal(only(feed('message', ['<m xml:lang="en"/>'])).attr('xml:lang'), 'en', 'a prefixed name is looked up as written')
  t.end()
})

t.test('namespace(inherited): own declaration first, then the inherited element (the stream root)', (t) => {
  const [root, plain, own, prefixed, ownPrefix, unknown] = elements(
    feed('stream', [
      "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>" + "<message/><iq xmlns='jabber:server'/><stream:features/><p:x xmlns:p='urn:p'/><q:y/></stream:stream>",
    ]),
  )
  t.equal(root?.namespace(), 'http://etherx.jabber.org/streams', 'the root: its prefix, declared on itself')
  t.equal(plain?.namespace(root?.attrs()), 'jabber:client', 'inherited default namespace')
  t.equal(plain?.namespace(), undefined, 'nothing of its own, nothing inherited')
  t.equal(own?.namespace(root?.attrs()), 'jabber:server', 'its own declaration wins')
  t.equal(prefixed?.namespace(root?.attrs()), 'http://etherx.jabber.org/streams', 'a prefix declared on the root')
  t.equal(ownPrefix?.namespace(root?.attrs()), 'urn:p', 'a prefix declared on the element itself')
  t.equal(unknown?.namespace(root?.attrs()), undefined, 'an undeclared prefix')
  t.end()
})

t.test('usesPrefixes: a prefixed name other than xml: and xmlns: at or inside the element', (t) => {
  const uses = (xml: string): boolean => only(feed('message', [xml])).usesPrefixes
  t.equal(uses("<a xmlns='x' xmlns:p='y' xml:lang='en'><b/></a>"), false)
  t.equal(uses('<p:a/>'), true, 'its own name')
  t.equal(uses("<a p:b='1'/>"), true, 'an attribute')
  t.equal(uses('<a><b><p:c/></b></a>'), true, 'deep inside')
  t.end()
})

// ─── zero-copy ──────────────────────────────────────────────────────────────

t.test('an element inside one chunk is a view of that chunk', (t) => {
  const { tokenizer: tok, events } = tokenizer('stream')
  tok.write(bytes(HEADER))
  const chunk = bytes(" <message id='1'/><iq id='2'><query/></iq> <presence/>")
  tok.write(chunk)
  const [message, iq, presence] = elements(events).slice(1)
  for (const [e, from] of [
    [message, 1],
    [iq, 18],
    [presence, 43],
  ] as const) {
    t.equal(e?.bytes.buffer, chunk.buffer, `${e?.name}: same buffer as the chunk`)
    t.equal(e?.bytes.byteOffset, chunk.byteOffset + from, `${e?.name}: at its offset`)
  }
  t.equal(text(iq?.bytes ?? new Uint8Array()), "<iq id='2'><query/></iq>")
  t.end()
})

t.test('an element split across chunks is exact, owns its bytes, and keeps them while reading goes on', (t) => {
  const { tokenizer: tok, events } = tokenizer('stream')
  tok.write(bytes(HEADER))
  const first = "<message id='one'><body>héllo</body></message>"
  const cut = bytes(first)
  const a = cut.subarray(0, 20) // inside the body
  const b = cut.subarray(20)
  tok.write(a)
  t.equal(elements(events).length, 1, 'nothing yet')
  tok.write(b)
  const [split] = elements(events).slice(1)
  t.equal(text(split?.bytes ?? new Uint8Array()), first)
  t.not(split?.bytes.buffer, a.buffer)
  // Read more split elements through the tokenizer's buffer: the first one's bytes stay as they were.
  for (let i = 0; i < 50; i++) {
    const more = bytes(`<message id='${'x'.repeat(i)}'><body>${'y'.repeat(i * 7)}</body></message>`)
    tok.write(more.subarray(0, 9))
    tok.write(more.subarray(9))
  }
  t.equal(text(split?.bytes ?? new Uint8Array()), first, 'unchanged after 50 more elements')
  t.equal(elements(events).length, 52)
  t.end()
})

t.test('a multibyte character split between chunks', (t) => {
  const input = bytes(`<m a='😀'>中</m>`)
  for (let cut = 1; cut < input.length; cut++) {
    const e = only(feed('message', [input.subarray(0, cut), input.subarray(cut)]))
    t.equal(text(e.bytes), `<m a='😀'>中</m>`, `cut at ${cut}`)
    t.equal(e.attr('a'), '😀')
  }
  t.end()
})

// ─── limits (limits.ts), each with policy-violation ─────────────────────────

const TIGHT: XmlLimits = { maxStanzaBytes: 64, maxDepth: 3, maxAttributes: 2, maxAttributeValueBytes: 4, maxNameBytes: 5 }

/** The text of the refusal, which names the limit (every limit is policy-violation). */
function refusal(mode: FramingMode, input: string, limits: XmlLimits): string | undefined {
  const error = feed(mode, [input], limits).list.find((e) => e.kind === 'error')
  return error?.kind === 'error' ? `${error.failure.condition}: ${error.failure.text}` : undefined
}
const SHORT_HEADER = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"

t.test('maxStanzaBytes: a stanza, with the whitespace before it, holds at most the budget', (t) => {
  const limits = { ...TIGHT, maxStanzaBytes: 20, maxNameBytes: 16, maxAttributeValueBytes: 64 }
  const header = '<stream:stream>'
  const fits = '  <m>12345678901</m>' // 20 bytes with its whitespace
  t.equal(bytes(fits).length, 20)
  t.same(read(t, 'stream', header + fits + fits, limits), [`rootStart ${header}`, `element ${fits.trim()}`, `element ${fits.trim()}`], 'exactly the budget, twice: it restarts after each stanza')
  t.same(read(t, 'stream', `${header} ${fits}`, limits), [`rootStart ${header}`, 'error policy-violation'], 'one byte more')
  t.same(read(t, 'stream', header + ' '.repeat(21), limits), [`rootStart ${header}`, 'error policy-violation'], 'whitespace alone counts')
  t.same(read(t, 'stream', `<stream:stream a='${'x'.repeat(10)}'>`, limits), ['error policy-violation'], 'the stream header is a unit too')
  t.equal(refusal('stream', `<stream:stream a='${'x'.repeat(10)}'>`, limits), 'policy-violation: element exceeds 20 bytes')
  t.same(read(t, 'message', `<m>${'x'.repeat(13)}</m>`, limits), [`element <m>${'x'.repeat(13)}</m>`], 'message mode: 20 bytes')
  t.same(read(t, 'message', `<m>${'x'.repeat(14)}</m>`, limits), ['error policy-violation'], 'message mode: 21 bytes')
  t.same(
    read(t, 'body', '<body><a/><b/><c/></body>', { ...limits, maxStanzaBytes: 24 }),
    ['rootStart <body>', 'element <a/>', 'element <b/>', 'element <c/>', 'error policy-violation'],
    'body mode: the whole document is the budget',
  )
  t.equal(refusal('message', `<m>${'x'.repeat(14)}</m>`, limits), 'policy-violation: element exceeds 20 bytes')
  t.end()
})

t.test('maxDepth: the root counts as 1', (t) => {
  t.same(read(t, 'message', '<a><b><c/></b></a>', TIGHT), ['element <a><b><c/></b></a>'], 'depth 3')
  t.same(read(t, 'message', '<a><b><c><d/></c></b></a>', TIGHT), ['error policy-violation'], 'depth 4')
  t.equal(refusal('message', '<a><b><c><d/></c></b></a>', TIGHT), 'policy-violation: elements nested deeper than 3')
  t.same(
    read(t, 'stream', `${SHORT_HEADER}<a><b/></a><a><b><c/></b></a>`, { ...TIGHT, maxStanzaBytes: 1000, maxNameBytes: 20, maxAttributeValueBytes: 100 }),
    [`rootStart ${SHORT_HEADER}`, 'element <a><b/></a>', 'error policy-violation'],
    'stream: a stanza is at depth 2',
  )
  const deep = feed('stream', [SHORT_HEADER + '<a>'.repeat(100_000)], { ...XML_LIMITS, maxDepth: 50 })
  t.same(deep.rendered(), [`rootStart ${SHORT_HEADER}`, 'error policy-violation'], '100,000 open elements stop at the limit, no recursion')
  t.end()
})

t.test('maxAttributes', (t) => {
  t.same(read(t, 'message', "<m a='1' b='2'/>", TIGHT), ["element <m a='1' b='2'/>"])
  t.same(read(t, 'message', "<m a='1' b='2' c='3'/>", TIGHT), ['error policy-violation'])
  t.equal(refusal('message', "<m a='1' b='2' c='3'/>", TIGHT), 'policy-violation: more than 2 attributes')
  t.same(read(t, 'message', '<m/>', { ...TIGHT, maxAttributes: 0 }), ['element <m/>'], 'zero allowed, none given')
  t.same(read(t, 'message', "<m a='1'/>", { ...TIGHT, maxAttributes: 0 }), ['error policy-violation'], 'zero allowed, one given')
  t.end()
})

t.test('maxAttributeValueBytes: the value as written, in bytes', (t) => {
  t.same(read(t, 'message', "<m a='1234'/>", TIGHT), ["element <m a='1234'/>"])
  t.same(read(t, 'message', "<m a='12345'/>", TIGHT), ['error policy-violation'])
  t.equal(refusal('message', "<m a='12345'/>", TIGHT), 'policy-violation: attribute value longer than 4 bytes')
  t.same(read(t, 'message', "<m a='éé'/>", TIGHT), ["element <m a='éé'/>"], '2 characters, 4 bytes')
  t.same(read(t, 'message', "<m a='é€'/>", TIGHT), ['error policy-violation'], '2 characters, 5 bytes')
  t.same(read(t, 'message', "<m a='&amp;x'/>", TIGHT), ['error policy-violation'], "'&amp;x' is 6 bytes as written, 2 once expanded")
  t.same(read(t, 'message', '<m a=""/>', { ...TIGHT, maxAttributeValueBytes: 0 }), ['element <m a=""/>'], 'an empty value under a zero limit')
  t.end()
})

t.test('maxNameBytes: element and attribute names, in bytes', (t) => {
  t.same(read(t, 'message', "<abcde abcde='1'></abcde>", TIGHT), ["element <abcde abcde='1'></abcde>"])
  t.same(read(t, 'message', '<abcdef/>', TIGHT), ['error policy-violation'], 'an element name of 6 bytes')
  t.equal(refusal('message', '<abcdef/>', TIGHT), 'policy-violation: name longer than 5 bytes')
  t.same(read(t, 'message', "<m abcdef='1'/>", TIGHT), ['error policy-violation'], 'an attribute name of 6 bytes')
  t.same(read(t, 'message', '<éé/>', { ...TIGHT, maxNameBytes: 4 }), ['element <éé/>'], 'é is 2 bytes: 4 fit')
  t.same(read(t, 'message', '<ééé/>', { ...TIGHT, maxNameBytes: 5 }), ['error policy-violation'], '6 bytes do not fit 5')
  t.end()
})

t.test('an attribute named __proto__ is refused with policy-violation', (t) => {
  t.same(read(t, 'message', "<m __proto__='x'/>"), ['error policy-violation'])
  t.equal(refusal('message', "<m __proto__='x'/>", XML_LIMITS), 'policy-violation: attribute name __proto__ is not supported')
  t.end()
})

// ─── restricted XML and well-formedness, by example ─────────────────────────

t.test('RFC 6120 §11.1: comments, processing instructions and DTDs are restricted-xml', (t) => {
  for (const [what, xml] of [
    ['a comment', '<m><!-- c --></m>'],
    ['a comment before the root', '<!-- c --><m/>'],
    ['a processing instruction', '<m><?pi x?></m>'],
    ['a DOCTYPE', '<!DOCTYPE m><m/>'],
    ['an entity declaration', "<!ENTITY x 'y'><m/>"],
    ['an XML declaration after the root started', "<m><?xml version='1.0'?></m>"],
  ] as const) {
    t.same(read(t, 'message', xml), ['error restricted-xml'], what)
  }
  t.same(read(t, 'message', '<m/><!-- c -->'), ['element <m/>', 'error restricted-xml'], 'a comment after the root')
  t.same(read(t, 'message', "<?xml version='1.0' encoding='UTF-8'?><m/>"), ['element <m/>'], 'RFC 6120 §11.5: the XML declaration at the start is fine')
  t.same(read(t, 'message', "\n<?xml version='1.0'?><m/>"), ['error restricted-xml'], 'XML 1.0 §2.8: not after whitespace (it is then a processing instruction)')
  t.same(read(t, 'message', "<?xml version='1.1'?><m/>"), ['error not-well-formed'], 'XML 1.0 only')
  t.same(read(t, 'message', "<?xml version='1.0' standalone='maybe'?><m/>"), ['error not-well-formed'], 'standalone is yes or no')
  t.same(read(t, 'message', "<?xml version='1.0' encoding='ISO-8859-1'?><m/>"), ['error unsupported-encoding'], 'RFC 6120 §11.6: UTF-8 only')
  t.same(read(t, 'message', '<m><![CDATA[<x>&]]></m>'), ['element <m><![CDATA[<x>&]]></m>'], 'CDATA sections inside an element are fine, kept as written')
  t.end()
})

t.test('XML 1.0 well-formedness: not-well-formed, by example', (t) => {
  for (const [what, xml] of [
    ['an unknown entity', '<m>&nbsp;</m>'],
    ['a bare &', '<m>a & b</m>'],
    ['&#0;', '<m>&#0;</m>'],
    ['a surrogate reference', '<m>&#xD800;</m>'],
    ["']]>' in text", '<m>a]]>b</m>'],
    ["'<' in an attribute value", "<m a='<'/>"],
    ['a duplicate attribute', "<m a='1' a='2'/>"],
    ['a mismatched end tag', '<m><a></b></m>'],
    ['an unquoted value', '<m a=1/>'],
    ['no space between attributes', "<m a='1'b='2'/>"],
    ['a control character', '<m>\u0001</m>'],
    ['U+FFFE', '<m>\ufffe</m>'],
    ['a name starting with a digit', '<1m/>'],
  ] as const) {
    t.same(read(t, 'message', xml), ['error not-well-formed'], what)
  }
  t.same(feed('message', [Uint8Array.of(0x3c, 0x6d, 0x3e, 0xc3, 0x28, 0x3c, 0x2f, 0x6d, 0x3e)]).rendered(), ['error not-well-formed'], 'invalid UTF-8')
  t.same(feed('message', [Uint8Array.of(0x3c, 0x6d, 0x2f, 0x3e, 0x20, 0xe2, 0x82)]).rendered(), ['element <m/>', 'error not-well-formed'], 'UTF-8 cut short at end()')
  t.end()
})

// ─── reset() and errors ─────────────────────────────────────────────────────

t.test('reset(): one tokenizer reused for many messages reads each as a fresh one would', (t) => {
  const messages = [
    "<message to='a'><body>1</body></message>",
    '<iq/><iq/>',
    '<presence>',
    '<!-- no -->',
    '\ufeff<a>é</a>',
    `<m a='${'v'.repeat(40)}'/>`,
    '<a><b><c><d/></c></b></a>',
    '',
    "<?xml version='1.0'?><open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
    '<x>&amp;</x>',
  ]
  const limits = { ...XML_LIMITS, maxDepth: 3, maxAttributeValueBytes: 32 }
  const { tokenizer: tok, events } = tokenizer('message', limits)
  for (const m of [...messages, ...messages.reverse()]) {
    tok.reset()
    events.list.length = 0
    tok.write(bytes(m))
    tok.end()
    t.same(events.rendered(), feed('message', [m], limits).rendered(), JSON.stringify(m))
  }
  t.end()
})

t.test('after an error the tokenizer is inert until reset()', (t) => {
  const { tokenizer: tok, events } = tokenizer('stream')
  tok.write(bytes(`${HEADER}<!-- x -->`))
  t.same(events.rendered(), [`rootStart ${HEADER}`, 'error restricted-xml'])
  t.equal(tok.failed, true)
  tok.write(bytes('<message/></stream:stream>'))
  tok.end()
  t.same(events.rendered(), [`rootStart ${HEADER}`, 'error restricted-xml'], 'write() and end() report nothing more')
  tok.reset()
  t.same([tok.failed, tok.started, tok.complete], [false, false, false])
  tok.write(bytes(`${HEADER}<message/>`))
  t.same(events.rendered().slice(2), [`rootStart ${HEADER}`, 'element <message/>'], 'RFC 6120 §4.3.3: a restarted stream reads from a new header')
  t.end()
})

t.test('interrupt(): the caller fails the tokenizer with its own condition', (t) => {
  const { tokenizer: tok, events } = tokenizer('message')
  tok.write(bytes('<a>'))
  tok.interrupt({ condition: 'not-well-formed', text: 'unpaired surrogate' })
  tok.write(bytes('</a>'))
  tok.end()
  t.same(events.list, [{ kind: 'error', failure: { condition: 'not-well-formed', text: 'unpaired surrogate' } }])
  t.end()
})

// ─── interned names ─────────────────────────────────────────────────────────

/** The intern table's slot for a short ASCII name: the same hash as decodeName in tokenizer.ts. */
function internSlot(name: string): number {
  let hash = name.length
  for (let i = 0; i < name.length; i++) hash = (Math.imul(hash, 31) + name.charCodeAt(i)) | 0
  return (hash ^ (hash >>> 10)) & 1023
}

/** Two different names of the same length in the same slot, found by brute force. */
function collidingPair(): [string, string] {
  const seen = new Map<number, string>()
  const letters = 'abcdefghijklmnopqrstuvwxyz'
  for (const a of letters)
    for (const b of letters)
      for (const c of letters) {
        const name = a + b + c
        const slot = internSlot(name)
        const other = seen.get(slot)
        if (other !== undefined) return [other, name]
        seen.set(slot, name)
      }
  throw new Error('no collision')
}

t.test('interned names: the same name from different chunks reads the same', (t) => {
  const { tokenizer: tok, events } = tokenizer('stream')
  tok.write(bytes(`${HEADER}<message type='chat'/>`))
  tok.write(bytes('<mess'))
  tok.write(bytes('age ty'))
  tok.write(bytes("pe='chat'/>"))
  const [one, two] = elements(events).slice(1)
  t.same([one?.name, two?.name], ['message', 'message'])
  t.same([one?.attr('type'), two?.attr('type')], ['chat', 'chat'])
  t.same(Object.keys(two?.attrs() ?? {}), ['type'])
  t.end()
})

t.test('non-ASCII names and names longer than 48 bytes decode correctly', (t) => {
  for (const name of ['é', '名前', '𝒳', 'ñandú', 'a'.repeat(48), 'b'.repeat(49), 'c'.repeat(256), `${'é'.repeat(30)}x`]) {
    const xml = `<${name} ${name}='${name}'></${name}>`
    for (let round = 0; round < 2; round++) {
      const e = only(feed('message', [xml]))
      t.equal(e.name, name, `element name ${name.length} characters, round ${round}`)
      t.same(e.attrs(), { [name]: name }, 'attribute name and value')
    }
  }
  t.end()
})

t.test('two names in the same intern slot both decode correctly', (t) => {
  const [x, y] = collidingPair()
  t.not(x, y)
  t.equal(internSlot(x), internSlot(y), `${x} and ${y} share slot ${internSlot(x)}`)
  const { tokenizer: tok, events } = tokenizer('stream')
  tok.write(bytes(HEADER))
  for (let i = 0; i < 3; i++) tok.write(bytes(`<${x} ${y}='${x}'/><${y} ${x}='${y}'/>`))
  const names = elements(events)
    .slice(1)
    .map((e) => [e.name, Object.entries(e.attrs())])
  const expected = [
    [x, [[y, x]]],
    [y, [[x, y]]],
  ]
  t.same(names, [...expected, ...expected, ...expected])
  t.end()
})

t.test('thousands of distinct names, read twice, all decode correctly', (t) => {
  const { tokenizer: tok, events } = tokenizer('stream')
  tok.write(bytes(HEADER))
  const names = Array.from({ length: 5000 }, (_, i) => `n${i.toString(36)}${'_'.repeat(i % 7)}`)
  for (let round = 0; round < 2; round++) for (const n of names) tok.write(bytes(`<${n} v='${n}'/>`))
  const read = elements(events).slice(1)
  t.equal(read.length, 10_000)
  const wrong = read.filter((e, i) => e.name !== names[i % 5000] || e.attr('v') !== names[i % 5000])
  t.same(
    wrong.map((e) => e.name),
    [],
    'every name and value as written',
  )
  t.end()
})
