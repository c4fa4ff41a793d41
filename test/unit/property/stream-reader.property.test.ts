/**
 * Property-based tests for XmlStreamReader (and the RestrictedScanner behind it).
 * Budget and seeds: see ./fuzz.ts.
 */
import { serialize } from '../../../src/core/xml/serialize.js'
import t from 'tap'
import fc from 'fast-check'
import { SaxesParser } from 'saxes'
import { deepStrictEqual, ok, strictEqual } from 'node:assert/strict'
import { XmlStreamReader } from '../../../src/core/xml/stream-reader.js'
import type { ReaderEvent, ScanMode, XmlLimits } from '../../../src/core/xml/stream-reader.js'
import { XML_LIMITS } from '../../support/limits.js'
import { STREAM_CONDITIONS } from '../../../src/core/conditions.js'
import {
  allElements,
  anyString,
  byteLength,
  checkProperty,
  chunk,
  chunkString,
  concatBytes,
  cutsArb,
  documentArb,
  elementArb,
  garbageBytes,
  maxDepthOf,
  mutated,
  normElement,
  normModel,
  startsWithBom,
  strictUtf8,
  streamArb,
  streamXml,
  STREAM_CLOSE,
  textArb,
  utf8,
} from './fuzz.js'
import type { Built, StreamCase, XEl } from './fuzz.js'

// ─── helpers ────────────────────────────────────────────────────────────────

function render(e: ReaderEvent): string {
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
}

/** Feed chunks to a fresh reader, then end(). */
function feed(mode: ScanMode, chunks: ReadonlyArray<Uint8Array | string>, limits: XmlLimits = XML_LIMITS): ReaderEvent[] {
  const reader = new XmlStreamReader(mode, limits)
  const events: ReaderEvent[] = []
  for (const c of chunks) events.push(...reader.write(c))
  events.push(...reader.end())
  return events
}

const byteByByte = (bytes: Uint8Array): Uint8Array[] => Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1))

const modeArb = fc.constantFrom<ScanMode>('stream', 'document')

/** Small limits, so that every one of them is hit now and then. */
const limitsArb: fc.Arbitrary<XmlLimits> = fc.oneof(
  fc.constant(XML_LIMITS),
  fc.record({
    maxStanzaBytes: fc.integer({ min: 1, max: 2048 }),
    maxDepth: fc.integer({ min: 1, max: 8 }),
    maxAttributes: fc.integer({ min: 0, max: 6 }),
    maxAttributeValueBytes: fc.integer({ min: 0, max: 64 }),
    maxNameBytes: fc.integer({ min: 1, max: 16 }),
  }),
)

const validStream = streamArb().map(streamXml)
const validDocument = documentArb().map((d) => d.xml)

/** Valid streams/documents, mutated ones, and garbage, as bytes. */
const inputArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 2, arbitrary: validStream.map(utf8) },
  { weight: 1, arbitrary: validDocument.map(utf8) },
  { weight: 4, arbitrary: mutated(validStream) },
  { weight: 2, arbitrary: mutated(validDocument) },
  { weight: 3, arbitrary: garbageBytes },
)

// ─── (a) nothing escapes write / end / reset ────────────────────────────────

type Op =
  | { readonly op: 'write'; readonly len: number }
  | { readonly op: 'string'; readonly text: string }
  | { readonly op: 'end' }
  | { readonly op: 'reset' }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constant('write' as const), len: fc.integer({ min: 0, max: 80 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('string' as const), text: fc.oneof(anyString(20), textArb.map((x) => x.xml)) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'end' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'reset' as const }) },
)

/**
 * Protocol invariants of one reader "life" (between resets): the error, if
 * any, is the last event; a stream starts once, first; nothing but an error
 * follows the end of the root; `failed` tells whether an error came out.
 */
function checkLife(mode: ScanMode, events: readonly ReaderEvent[], failed: boolean): void {
  const errors = events.filter((e) => e.type === 'error')
  ok(errors.length <= 1, 'at most one error per reader life')
  if (errors.length === 1) strictEqual(events[events.length - 1]?.type, 'error', 'the error is the last event')
  strictEqual(failed, errors.length === 1, '`failed` reflects the error event')
  for (const e of errors) if (e.type === 'error') ok((STREAM_CONDITIONS as readonly string[]).includes(e.failure.condition))
  const starts = events.filter((e) => e.type === 'stream-start').length
  if (mode === 'stream') {
    ok(starts <= 1)
    if (starts === 1) strictEqual(events[0]?.type, 'stream-start', 'stream-start comes first')
    else ok(events.every((e) => e.type === 'error'), 'nothing but an error before the stream starts')
    const end = events.findIndex((e) => e.type === 'stream-end')
    if (end >= 0) ok(events.slice(end + 1).every((e) => e.type === 'error'), 'only an error may follow stream-end')
  } else {
    strictEqual(starts, 0)
    ok(!events.some((e) => e.type === 'stream-end'))
    const el = events.findIndex((e) => e.type === 'element')
    if (el >= 0) ok(events.slice(el + 1).every((e) => e.type === 'error'), 'only an error may follow the root')
  }
}

t.test('(a) write/end/reset never throw, whatever the input and the order of calls', (t) => {
  checkProperty(
    t,
    'reader never throws',
    fc.property(modeArb, limitsArb, inputArb, fc.array(opArb, { maxLength: 20 }), (mode, limits, input, ops) => {
      const reader = new XmlStreamReader(mode, limits)
      let life: ReaderEvent[] = []
      let at = 0
      const run = (fn: () => ReaderEvent[]): void => {
        const out = fn()
        ok(Array.isArray(out))
        life.push(...out)
        checkLife(mode, life, reader.failed)
      }
      for (const op of ops) {
        switch (op.op) {
          case 'write':
            run(() => reader.write(input.subarray(at, at + op.len)))
            at = Math.min(input.length, at + op.len)
            break
          case 'string':
            run(() => reader.write(op.text))
            break
          case 'end':
            run(() => reader.end())
            break
          case 'reset':
            reader.reset()
            strictEqual(reader.failed, false)
            life = []
            break
        }
      }
      run(() => reader.write(input.subarray(at)))
      run(() => reader.end())
    }),
    { runs: 400, share: 0.2 },
  )
  t.end()
})

// ─── (b) chunking does not matter ───────────────────────────────────────────

t.test('(b) whole input, byte-by-byte and random chunking give the same events', (t) => {
  checkProperty(
    t,
    'chunking invariance',
    fc.property(modeArb, inputArb, cutsArb, cutsArb, (mode, bytes, cuts, stringCuts) => {
      const whole = feed(mode, [bytes]).map(render)
      const single = feed(mode, byteByByte(bytes)).map(render)
      const random = feed(mode, chunk(bytes, cuts)).map(render)
      const text = strictUtf8(bytes)
      if (text !== undefined) {
        deepStrictEqual(single, whole, 'byte-by-byte = whole')
        deepStrictEqual(random, whole, 'random chunks = whole')
        // Already-decoded text, even cut inside a surrogate pair, reads the same
        // (a leading BOM is stripped only by the byte decoder: see the known issues).
        if (!startsWithBom(bytes)) {
          deepStrictEqual(feed(mode, [text]).map(render), whole, 'one string = bytes')
          deepStrictEqual(feed(mode, chunkString(text, stringCuts)).map(render), whole, 'string chunks = bytes')
        }
        return
      }
      // Invalid UTF-8: a chunk that fails to decode yields only the error, so
      // what came before the bad byte in that same chunk is lost (known issue
      // below). Byte-by-byte feeding delivers the most; every chunking delivers
      // a prefix of it, then one error.
      const isError = (s: string): boolean => s.startsWith('error ')
      const events = (x: string[]): string[] => x.filter((s) => !isError(s))
      ok(single.length > 0 && isError(single[single.length - 1] ?? ''), 'invalid UTF-8 ends in an error')
      for (const [name, x] of [['whole', whole], ['random', random]] as const) {
        ok(isError(x[x.length - 1] ?? ''), `${name}: ends in an error`)
        strictEqual(x.filter(isError).length, 1, `${name}: exactly one error`)
        deepStrictEqual(events(x), events(single).slice(0, events(x).length), `${name}: a prefix of the byte-by-byte events`)
      }
    }),
    { runs: 300, share: 0.25 },
  )
  t.end()
})

// ─── (c) round trip of valid input ──────────────────────────────────────────

t.test('(c) valid generated streams and documents come out as they went in', (t) => {
  checkProperty(
    t,
    'stream round trip',
    fc.property(streamArb(), cutsArb, (stream, cuts) => {
      const events = feed('stream', chunk(utf8(streamXml(stream)), cuts))
      const expected = [
        { type: 'stream-start', el: normModel(stream.header) },
        ...stream.stanzas.map((s) => ({ type: 'element', el: normModel(s.element.model) })),
        ...(stream.closed ? [{ type: 'stream-end', el: undefined }] : []),
      ]
      const actual = events.map((e) => ({
        type: e.type,
        el: e.type === 'stream-start' || e.type === 'element' ? normElement(e.element) : e.type === 'error' ? e.failure : undefined,
      }))
      deepStrictEqual(actual, expected)
      // and what they re-serialise to reads back the same (serialize(): ltx's toString()
      // writes TAB, CR, LF in values literally, which a conforming reader normalises)
      for (const e of events) {
        if (e.type !== 'element') continue
        const again = feed('document', [serialize(e.element)])
        strictEqual(again.length, 1)
        const first = again[0]
        ok(first?.type === 'element')
        deepStrictEqual(normElement(first.element), normElement(e.element))
      }
    }),
    { runs: 200, share: 0.15 },
  )
  checkProperty(
    t,
    'document round trip',
    fc.property(documentArb(), cutsArb, (doc, cuts) => {
      const events = feed('document', chunk(utf8(doc.xml), cuts))
      strictEqual(events.length, 1, JSON.stringify(events.map(render)))
      const first = events[0]
      ok(first?.type === 'element')
      deepStrictEqual(normElement(first.element), normModel(doc.root))
    }),
    { runs: 200, share: 0.1 },
  )
  t.end()
})

// ─── (d) the byte budget ────────────────────────────────────────────────────

const BUDGET = 512
const budgetLimits: XmlLimits = { ...XML_LIMITS, maxStanzaBytes: BUDGET }
/** Escaping can make a serialisation longer than its input: `'` in a "-quoted value becomes &apos;. */
const MAX_ESCAPE_GROWTH = 6

/** A stanza padded with filler so that its size lands near the budget. */
function paddedStanza(): fc.Arbitrary<Built<XEl>> {
  return fc
    .tuple(elementArb({ maxDepth: 2, maxChildren: 3 }), fc.integer({ min: -8, max: 8 }), fc.constantFrom('x', 'é', '€', '😀'), fc.boolean())
    .map(([inner, delta, filler, pad]) => {
      if (!pad) return inner
      const base = byteLength(`<message>${inner.xml}</message>`)
      const n = Math.max(0, Math.floor((BUDGET + delta - base) / byteLength(filler)))
      const text = filler.repeat(n)
      return { model: { name: 'message', attrs: [], children: [inner.model, text] }, xml: `<message>${inner.xml}${text}</message>` }
    })
}

/** What the reader must emit for `stream` under BUDGET: exact, from the bytes of each unit. */
function expectedUnderBudget(stream: StreamCase): string[] {
  const out: string[] = []
  if (byteLength(stream.prefix) > BUDGET) return ['error policy-violation']
  out.push('start')
  for (const s of stream.stanzas) {
    if (byteLength(s.ws + s.element.xml) > BUDGET) return [...out, 'error policy-violation']
    out.push('element')
  }
  if (byteLength(stream.tail + (stream.closed ? STREAM_CLOSE : '')) > BUDGET) return [...out, 'error policy-violation']
  if (stream.closed) out.push('end')
  return out
}

t.test('(d) the per-stanza byte budget', (t) => {
  checkProperty(
    t,
    'budget: a stanza is delivered iff its bytes fit',
    fc.property(streamArb(paddedStanza(), 4), cutsArb, (stream, cuts) => {
      const events = feed('stream', chunk(utf8(streamXml(stream)), cuts), budgetLimits)
      deepStrictEqual(
        events.map((e) => (e.type === 'error' ? `error ${e.failure.condition}` : e.type === 'stream-start' ? 'start' : e.type === 'stream-end' ? 'end' : 'element')),
        expectedUnderBudget(stream),
      )
    }),
    { runs: 200, share: 0.1 },
  )
  checkProperty(
    t,
    'budget: nothing emitted is bigger than the escape growth allows',
    fc.property(modeArb, fc.oneof(inputArb, streamArb(paddedStanza(), 4).map((s) => utf8(streamXml(s)))), cutsArb, (mode, bytes, cuts) => {
      for (const e of feed(mode, chunk(bytes, cuts), budgetLimits)) {
        if (e.type !== 'element' && e.type !== 'stream-start') continue
        const size = byteLength(e.element.toString())
        ok(size <= MAX_ESCAPE_GROWTH * BUDGET, `${size} bytes out of a ${BUDGET}-byte budget`)
      }
    }),
    { runs: 200, share: 0.05 },
  )
  t.end()
})

// ─── (e) after an error, silence ────────────────────────────────────────────

t.test('(e) once an error is emitted, nothing more comes out until reset()', (t) => {
  checkProperty(
    t,
    'inert after error',
    fc.property(modeArb, limitsArb, inputArb, cutsArb, fc.array(fc.oneof(garbageBytes, validStream.map(utf8)), { maxLength: 3 }), (mode, limits, bytes, cuts, more) => {
      const reader = new XmlStreamReader(mode, limits)
      let seen = false
      const chunks = [...chunk(bytes, cuts), ...more]
      for (const c of chunks) {
        const out = reader.write(c)
        if (seen) deepStrictEqual(out, [], 'write after an error')
        const i = out.findIndex((e) => e.type === 'error')
        if (i >= 0) {
          strictEqual(i, out.length - 1, 'the error closes its batch')
          seen = true
        }
        strictEqual(reader.failed, seen)
      }
      const end = reader.end()
      if (seen) {
        deepStrictEqual(end, [], 'end() after an error')
        deepStrictEqual(reader.write('<a/>'), [])
        deepStrictEqual(reader.end(), [])
      }
      // reset() brings it back to life
      reader.reset()
      strictEqual(reader.failed, false)
      const fresh = [...reader.write(mode === 'stream' ? "<stream:stream xmlns='jabber:client'><a/>" : '<a/>'), ...reader.end()].map(render)
      if (limits === XML_LIMITS) deepStrictEqual(fresh.filter((s) => s.startsWith('element')), ['element <a/>'])
    }),
    { runs: 300, share: 0.1 },
  )
  t.end()
})

// ─── (f) structural limits hold for everything emitted ──────────────────────

t.test('(f) emitted elements respect depth, attribute and name limits', (t) => {
  checkProperty(
    t,
    'limits respected',
    fc.property(modeArb, limitsArb, inputArb, cutsArb, (mode, limits, bytes, cuts) => {
      for (const e of feed(mode, chunk(bytes, cuts), limits)) {
        if (e.type !== 'element' && e.type !== 'stream-start') continue
        const depth = e.type === 'element' && mode === 'stream' ? maxDepthOf(e.element) + 1 : maxDepthOf(e.element)
        ok(depth <= limits.maxDepth, `depth ${depth} > ${limits.maxDepth}`)
        for (const el of allElements(e.element)) {
          // Known issue: the first character of an element name is not checked against maxNameBytes.
          ok(byteLength(el.name) <= limits.maxNameBytes || el.name.length === 1, `element name ${el.name}`)
          const attrs = Object.entries(el.attrs)
          ok(attrs.length <= limits.maxAttributes, `${attrs.length} attributes > ${limits.maxAttributes}`)
          for (const [name, value] of attrs) {
            // Known issues (see the end of this file), so the bounds checked here are the
            // ones the scanner actually guarantees today:
            // - attribute names are limited in UTF-16 units, not bytes;
            // - inside an attribute value an entity or character reference counts as
            //   1 byte (its '&'), and expands to at most 4 bytes.
            ok(name.length <= limits.maxNameBytes, `attribute name ${name}`)
            ok(byteLength(value) <= 4 * limits.maxAttributeValueBytes, `attribute value of ${byteLength(value)} bytes`)
          }
        }
      }
    }),
    { runs: 300, share: 0.05 },
  )
  t.end()
})

// ─── issues found by the properties above, now fixed and pinned ─────────────

/** What a conforming XML parser reads: start tags with attributes, and text. */
function conformant(xml: string): unknown[] {
  const parser = new SaxesParser()
  const out: unknown[] = []
  parser.on('opentag', (tag) => out.push(['open', tag.name, { ...tag.attributes }]))
  parser.on('text', (text) => out.push(['text', text]))
  parser.write(xml).close()
  return out
}

const HEADER = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"

t.test('issues the properties found, pinned as regressions', (t) => {
  const bytes = concatBytes([utf8('<a/>'), Uint8Array.of(0xff)])
  t.same(feed('document', [bytes]).map(render), feed('document', byteByByte(bytes)).map(render), 'invalid UTF-8 later in a chunk must not swallow the element before it')
  const streamBytes = concatBytes([utf8(HEADER + '<m/>'), Uint8Array.of(0xff)])
  t.same(feed('stream', [streamBytes]).map(render), feed('stream', byteByByte(streamBytes)).map(render), 'same in stream mode')

  const limits: XmlLimits = { ...XML_LIMITS, maxNameBytes: 4 }
  t.same(feed('document', ["<a ééé='x'/>"], limits).map(render), ['error policy-violation'], 'a 6-byte attribute name exceeds maxNameBytes 4')
  t.same(feed('document', ["<ééé/>"], limits).map(render), ['error policy-violation'], '(as a 6-byte element name does)')
  t.same(feed('document', ['<é/>'], { ...XML_LIMITS, maxNameBytes: 1 }).map(render), ['error policy-violation'], 'a one-character, 2-byte element name exceeds maxNameBytes 1')

  const tiny: XmlLimits = { ...XML_LIMITS, maxAttributeValueBytes: 1 }
  t.same(feed('document', ["<a b='&amp;'/>"], tiny).map(render), ['error policy-violation'], 'a 5-byte attribute value (as written) exceeds maxAttributeValueBytes 1')
  t.same(feed('document', ["<a b='&#65536;'/>"], tiny).map(render), ['error policy-violation'], 'an 8-byte value that expands to 4 bytes exceeds maxAttributeValueBytes 1')
  const [big] = feed('document', [`<a b='${'&#x10FFFF;'.repeat(20_000)}'/>`])
  const valueBytes = big?.type === 'element' ? byteLength(big.element.attrs.b ?? '') : 0
  t.ok(valueBytes <= XML_LIMITS.maxAttributeValueBytes, `default limits: a 200 kB value of character references (${valueBytes} bytes expanded) stays within 64 KiB`)

  t.same(feed('document', ["<a __proto__='x'/>"]).map(render), ['error policy-violation'], 'an attribute named __proto__ is refused, not silently dropped')

  const small: XmlLimits = { ...XML_LIMITS, maxStanzaBytes: 64 }
  const [first] = feed('document', [`<a b='${'"'.repeat(55)}'/>`], small)
  const size = first?.type === 'element' ? byteLength(serialize(first.element)) : -1
  // The budget bounds input bytes; escaping on output can grow a value up to 6× (one '"' → '&quot;').
  t.ok(size >= 0 && size <= 6 * 64, `a 64-byte element re-serialises within 6× its budget (got ${size})`)

  t.same(feed('document', ['\ufeff<a/>']).map(render), feed('document', [utf8('\ufeff<a/>')]).map(render), 'a leading BOM reads the same as a string and as bytes')
  t.same(feed('document', ['<a>\ud800</a>']).map(render), ['error not-well-formed'], 'a lone surrogate in a string is refused, like its bytes would be')

  // A conforming XML parser upstream (expat, saxes, …) normalises literal
  // whitespace in attribute values and CR in text; serialize() writes them as
  // character references so their meaning survives the relay.
  for (const xml of ["<a b='x&#10;y&#9;z&#13;w'/>", '<a>x&#13;y</a>']) {
    const [e] = feed('document', [xml])
    const out = e?.type === 'element' ? serialize(e.element) : ''
    t.same(conformant(out), conformant(xml), `${xml} keeps its meaning for a conforming parser once re-serialised (${JSON.stringify(out)})`)
  }
  t.end()
})
