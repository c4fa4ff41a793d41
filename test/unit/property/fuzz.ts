/**
 * Shared machinery for the property-based tests in this directory: run
 * configuration, a small XML grammar that yields (model, serialisation)
 * pairs, garbage generators, and byte-level mutations of valid input.
 *
 * Environment (all optional):
 *   FUZZ_SECONDS  wall-clock budget per test file, split between its
 *                 properties by weight (default 1.5; 0 = no time limit)
 *   FUZZ_RUNS     run count for every property (default: each property's own)
 *   FUZZ_SEED     seed for every property (fast-check prints the seed and
 *                 path of any failure; use them with FUZZ_ONLY and FUZZ_PATH)
 *   FUZZ_PATH     replay path of a reported failure
 *   FUZZ_ONLY     run only the properties whose name contains this string
 *
 * Scale up locally (tap's own per-file timeout must grow too), e.g.:
 *   FUZZ_RUNS=1000000 FUZZ_SECONDS=300 npx tap --timeout=0 test/unit/property/*.test.ts
 */
import fc from 'fast-check'
import type { Test } from 'tap'
import type { Element } from 'ltx'

// ─── configuration ──────────────────────────────────────────────────────────

function envNumber(name: string): number | undefined {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === '') return undefined
  const value = Number(raw)
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got '${raw}'`)
  return value
}

const FUZZ_SECONDS = envNumber('FUZZ_SECONDS') ?? 1.5
const FUZZ_RUNS = envNumber('FUZZ_RUNS')
const FUZZ_SEED = envNumber('FUZZ_SEED')
const FUZZ_PATH = process.env.FUZZ_PATH || undefined
const FUZZ_ONLY = process.env.FUZZ_ONLY || undefined

export interface PropertyOptions {
  /** Default number of runs (FUZZ_RUNS overrides). */
  readonly runs: number
  /** Share of the file's FUZZ_SECONDS budget this property may use. */
  readonly share: number
}

/**
 * Run one property as one tap assertion. A failure carries fast-check's
 * report: the seed, the replay path and the shrunk counterexample.
 */
export function checkProperty<Ts>(t: Test, name: string, property: fc.IProperty<Ts>, options: PropertyOptions): void {
  if (FUZZ_ONLY !== undefined && !name.includes(FUZZ_ONLY)) {
    t.pass(`${name}: skipped (FUZZ_ONLY)`)
    return
  }
  const timeLimit = FUZZ_SECONDS === 0 ? undefined : Math.max(100, Math.round(FUZZ_SECONDS * 1000 * options.share))
  const out = fc.check(property, {
    numRuns: FUZZ_RUNS ?? options.runs,
    ...(timeLimit !== undefined ? { plugins: [fc.interruptAfterTimeLimit(timeLimit)] } : {}),
    ...(FUZZ_SEED !== undefined ? { seed: FUZZ_SEED } : {}),
    ...(FUZZ_PATH !== undefined ? { path: FUZZ_PATH } : {}),
  })
  if (out.failed) {
    const error = out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance)
    t.fail(`${name}: property failed (seed ${out.seed})`, {
      counterexample: fc.stringify(out.counterexample),
      error,
      report: fc.defaultReportMessage(out),
      replay: `FUZZ_ONLY='${name}' FUZZ_SEED=${out.seed} FUZZ_PATH='${out.counterexamplePath ?? ''}'`,
    })
    return
  }
  const note = out.interrupted ? ` (time limit ${timeLimit} ms reached)` : ''
  t.ok(out.numRuns > 0, `${name}: ${out.numRuns} runs${note}, seed ${out.seed}`)
}

// ─── small utilities ────────────────────────────────────────────────────────

const encoder = new TextEncoder()
export const utf8 = (s: string): Uint8Array => encoder.encode(s)
export const byteLength = (s: string): number => Buffer.byteLength(s, 'utf8')

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** The decoded text when `bytes` is complete, valid UTF-8; undefined otherwise. */
export function strictUtf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes)
  } catch {
    return undefined
  }
}

export function startsWithBom(bytes: Uint8Array): boolean {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Well-formed UTF-16 (no lone surrogate), so UTF-8 encoding is lossless. */
export function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s)
}

/** Every character may appear in an XML 1.0 document (literally or as a character reference). */
export function xmlRepresentable(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return isWellFormed(s) && !/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/.test(s)
}

/** Split `bytes` at the given cut points (taken modulo the length). */
export function chunk(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % (bytes.length + 1))))].sort((a, b) => a - b)
  const chunks: Uint8Array[] = []
  let from = 0
  for (const p of points) {
    chunks.push(bytes.subarray(from, p))
    from = p
  }
  chunks.push(bytes.subarray(from))
  return chunks
}

export function chunkString(s: string, cuts: readonly number[]): string[] {
  const points = [...new Set(cuts.map((c) => c % (s.length + 1)))].sort((a, b) => a - b)
  const out: string[] = []
  let from = 0
  for (const p of points) {
    out.push(s.slice(from, p))
    from = p
  }
  out.push(s.slice(from))
  return out
}

// ─── structural comparison ──────────────────────────────────────────────────

/** A grammar-level element: what a correct parser must produce. */
export interface XEl {
  readonly name: string
  readonly attrs: ReadonlyArray<readonly [string, string]>
  readonly children: readonly XNode[]
}
export type XNode = string | XEl

/** A comparable, order-insensitive (for attributes) form of an element. */
export interface Norm {
  readonly name: string
  readonly attrs: ReadonlyArray<readonly [string, string]>
  readonly children: ReadonlyArray<string | Norm>
}

function mergeText<T>(children: ReadonlyArray<string | T>): Array<string | T> {
  const out: Array<string | T> = []
  for (const child of children) {
    if (typeof child === 'string') {
      if (child === '') continue
      const last = out[out.length - 1]
      if (typeof last === 'string') out[out.length - 1] = last + child
      else out.push(child)
    } else out.push(child)
  }
  return out
}

const byKey = (a: readonly [string, string], b: readonly [string, string]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)

export function normModel(el: XEl): Norm {
  return {
    name: el.name,
    attrs: [...el.attrs].sort(byKey),
    children: mergeText(el.children.map((c) => (typeof c === 'string' ? c : normModel(c)))),
  }
}

export function normElement(el: Element): Norm {
  return {
    name: el.name,
    attrs: Object.entries(el.attrs)
      .filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== null)
      .map(([k, v]) => [k, String(v)] as const)
      .sort(byKey),
    children: mergeText(el.children.map((c) => (typeof c === 'string' ? c : normElement(c)))),
  }
}

export function maxDepthOf(el: Element): number {
  let deepest = 0
  for (const c of el.children) if (typeof c !== 'string') deepest = Math.max(deepest, maxDepthOf(c))
  return deepest + 1
}

export function* allElements(el: Element): Generator<Element> {
  yield el
  for (const c of el.children) if (typeof c !== 'string') yield* allElements(c)
}

// ─── grammar ────────────────────────────────────────────────────────────────

export interface Built<T> {
  readonly model: T
  readonly xml: string
}

const fromCode = (c: number): string => String.fromCodePoint(c)

/** One character that XML 1.0 allows, biased towards the interesting ones. */
export const xmlChar: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...'abcxyzABZ0189 -_.:;#!?/=[]'.split('')) },
  { weight: 4, arbitrary: fc.constantFrom('<', '&', '>', "'", '"', ']', ']]') },
  { weight: 1, arbitrary: fc.constantFrom('\t', '\n', '\r', '\r\n') },
  { weight: 2, arbitrary: fc.integer({ min: 0x80, max: 0xd7ff }).map(fromCode) },
  { weight: 1, arbitrary: fc.integer({ min: 0xe000, max: 0xfffd }).map(fromCode) },
  { weight: 2, arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map(fromCode) },
  { weight: 1, arbitrary: fc.constantFrom('é', '中', '😀', '𝒳', '\u00a0', '\u2028', '\ufeff', '\ufffd') },
)

/** A string of XML-allowed characters, including `<&>'"`, controls-free unicode and astral characters. */
export function xmlString(maxLength: number, minLength = 0): fc.Arbitrary<string> {
  return fc.array(xmlChar, { minLength, maxLength }).map((parts) => parts.join(''))
}

/** Characters that a hostile peer may put in a JS string: anything, lone surrogates included. */
export const anyString = (maxLength: number): fc.Arbitrary<string> =>
  fc
    .array(
      fc.oneof(
        { weight: 6, arbitrary: xmlChar },
        // any code point (fc.string's 'binary' unit costs ~1 s to build, so not that)
        { weight: 2, arbitrary: fc.integer({ min: 0, max: 0x10ffff }).filter((c) => c < 0xd800 || c > 0xdfff).map(fromCode) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x1f }).map(fromCode) },
        { weight: 1, arbitrary: fc.constantFrom('\ud800', '\udfff', '\ufffe', '\uffff', '\u0000') },
      ),
      { maxLength },
    )
    .map((parts) => parts.join(''))

type Escape = 0 | 1 | 2 | 3
const escapeArb: fc.Arbitrary<Escape> = fc.constantFrom<Escape>(0, 0, 0, 0, 1, 2, 3)

function charRef(ch: string, how: Escape): string {
  const cp = ch.codePointAt(0) ?? 0
  return how === 2 ? `&#${cp};` : `&#x${cp.toString(16)};`
}

/**
 * Encode text for element content or an attribute value, each character
 * raw (when allowed) or as a named entity / decimal / hex reference.
 * `value` is what a conforming parser reads back from an attribute value
 * (XML 1.0 §2.11, §3.3.3: a raw TAB, LF, CR or CR LF pair reads as one
 * space; a reference to one stays what it stands for).
 */
function encode(pairs: ReadonlyArray<readonly [string, Escape]>, quote: string | undefined): { xml: string; value: string } {
  let out = ''
  let value = ''
  let rawCr = false
  for (const [piece, how] of pairs) {
    for (const ch of piece) {
      const named = ch === '<' ? '&lt;' : ch === '&' ? '&amp;' : ch === '>' ? '&gt;' : ch === '"' ? '&quot;' : ch === "'" ? '&apos;' : undefined
      const mustEscape = ch === '<' || ch === '&' || ch === quote || (ch === '>' && quote === undefined && out.endsWith(']]'))
      if (how === 0 && !mustEscape) {
        out += ch
        if (ch === '\t' || ch === '\n' || ch === '\r') {
          if (!(ch === '\n' && rawCr)) value += ' '
          rawCr = ch === '\r'
          continue
        }
      } else if ((how === 0 || how === 1) && named !== undefined) out += named
      else out += charRef(ch, how === 3 ? 3 : 2)
      value += ch
      rawCr = false
    }
  }
  return { xml: out, value }
}

const encodedPiece: fc.Arbitrary<ReadonlyArray<readonly [string, Escape]>> = fc.array(fc.tuple(xmlChar, escapeArb), { maxLength: 10 })

const cdata: fc.Arbitrary<Built<string>> = xmlString(10)
  .filter((s) => !s.includes(']]>'))
  .map((s) => ({ model: s, xml: `<![CDATA[${s}]]>` }))

/**
 * Concatenate content pieces without creating `]]>` across a boundary: XML
 * 1.0 §2.4 forbids that string in character data, so a `>` that would
 * complete it is written `&gt;` (same text, still well-formed).
 */
function joinContent(pieces: readonly string[]): string {
  let out = ''
  for (let piece of pieces) {
    if (out.endsWith(']]') && piece.startsWith('>')) piece = '&gt;' + piece.slice(1)
    else if (out.endsWith(']') && piece.startsWith(']>')) piece = ']&gt;' + piece.slice(2)
    out += piece
  }
  return out
}

/** Character data: escaped text and CDATA sections, back to back. */
export const textArb: fc.Arbitrary<Built<string>> = fc
  .array(
    fc.oneof(
      { weight: 4, arbitrary: encodedPiece.map((pairs) => ({ model: pairs.map((p) => p[0]).join(''), xml: encode(pairs, undefined).xml })) },
      { weight: 1, arbitrary: cdata },
    ),
    { minLength: 1, maxLength: 3 },
  )
  .map((parts) => ({ model: parts.map((p) => p.model).join(''), xml: joinContent(parts.map((p) => p.xml)) }))

/** A quoted attribute value, either quote style. */
export function attrValueArb(chars: fc.Arbitrary<ReadonlyArray<readonly [string, Escape]>> = encodedPiece): fc.Arbitrary<Built<string>> {
  return fc.tuple(fc.constantFrom("'", '"'), chars).map(([q, pairs]) => {
    const { xml, value } = encode(pairs, q)
    return { model: value, xml: q + xml + q }
  })
}

/** An exact value, encoded in random ways. */
export function encodeValue(value: string): fc.Arbitrary<Built<string>> {
  const chars = [...value]
  return attrValueArb(fc.tuple(...chars.map((c) => fc.tuple(fc.constant(c), escapeArb))) as fc.Arbitrary<Array<[string, Escape]>>)
}

const nameStart = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCXYZ_'.split('')) },
  { weight: 1, arbitrary: fc.constantFrom('é', 'ñ', 'Ω', '中', '名', '𝒳', '𐐷') },
)
const nameChar = fc.oneof({ weight: 4, arbitrary: nameStart }, { weight: 2, arbitrary: fc.constantFrom(...'0123456789-.·'.split('')) })
/** A random XML name without a colon. */
export const randomName: fc.Arbitrary<string> = fc.tuple(nameStart, fc.array(nameChar, { maxLength: 8 })).map(([s, rest]) => s + rest.join(''))

export const ELEMENT_NAMES = ['message', 'iq', 'presence', 'body', 'query', 'item', 'x', 'foo:bar', 'stream:features', 'é', '名前', '𝒳', 'a.b-c_d', '_1'] as const
export const elementName: fc.Arbitrary<string> = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...ELEMENT_NAMES) }, { weight: 1, arbitrary: randomName })

/**
 * Attribute names. `__proto__` is left out on purpose: ltx stores attributes
 * in a plain object and silently drops it (see the known-issue test).
 */
export const ATTR_NAMES = ['to', 'from', 'id', 'type', 'xml:lang', 'version', 'xmlns', 'xmlns:foo', 'a-b.c', 'é', '𝒳', 'constructor', 'hasOwnProperty', 'toString'] as const
export const attrName: fc.Arbitrary<string> = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...ATTR_NAMES) }, { weight: 1, arbitrary: randomName })

export const ws0: fc.Arbitrary<string> = fc.constantFrom('', '', '', ' ', '\n', '\t', '  ', '\r\n')
export const ws1: fc.Arbitrary<string> = fc.constantFrom(' ', ' ', ' ', '  ', '\n', '\t', ' \r\n ')

interface AttrPiece {
  readonly name: string
  readonly value: Built<string>
  readonly before: string
  readonly eq: string
}
const attrPiece = (names: fc.Arbitrary<string>): fc.Arbitrary<AttrPiece> =>
  fc.record({ name: names, value: attrValueArb(), before: ws1, eq: fc.constantFrom('=', '=', '=', ' =', '= ', ' = ') })

function renderAttrs(attrs: readonly AttrPiece[]): string {
  return attrs.map((a) => `${a.before}${a.name}${a.eq}${a.value.xml}`).join('')
}

export interface ElementGrammar {
  readonly names?: fc.Arbitrary<string>
  readonly attrNames?: fc.Arbitrary<string>
  readonly maxAttrs?: number
  readonly maxChildren?: number
  readonly maxDepth?: number
}

/** Random elements from the grammar: (model, one of its many valid serialisations). */
export function elementArb(grammar: ElementGrammar = {}): fc.Arbitrary<Built<XEl>> {
  const names = grammar.names ?? elementName
  const attrs = fc.uniqueArray(attrPiece(grammar.attrNames ?? attrName), { selector: (a) => a.name, maxLength: grammar.maxAttrs ?? 4 })
  const depthIdentifier = fc.createDepthIdentifier()
  const tree = fc.letrec<{ node: Built<XNode>; element: Built<XEl> }>((tie) => ({
    node: fc.oneof({ maxDepth: grammar.maxDepth ?? 3, depthIdentifier, depthSize: 'small' }, textArb, tie('element')),
    element: fc
      .record({
        name: names,
        attrs,
        children: fc.array(tie('node'), { maxLength: grammar.maxChildren ?? 4, depthIdentifier }),
        selfClose: fc.boolean(),
        tagWs: ws0,
        endWs: fc.constantFrom('', '', ' ', '\n'),
      })
      .map(({ name, attrs, children, selfClose, tagWs, endWs }): Built<XEl> => {
        const open = `<${name}${renderAttrs(attrs)}${tagWs}`
        const xml = children.length === 0 && selfClose ? `${open}/>` : `${open}>${joinContent(children.map((c) => c.xml))}</${name}${endWs}>`
        return { model: { name, attrs: attrs.map((a) => [a.name, a.value.model] as const), children: children.map((c) => c.model) }, xml }
      }),
  }))
  return tree.element
}

export const NS_STREAM = 'http://etherx.jabber.org/streams'
export const XML_DECL = fc.constantFrom('', '', "<?xml version='1.0'?>", '<?xml version="1.0" encoding="UTF-8"?>\n')

export interface StreamCase {
  /** XML declaration, leading whitespace and the stream header. */
  readonly prefix: string
  readonly header: XEl
  readonly stanzas: ReadonlyArray<{ readonly ws: string; readonly element: Built<XEl> }>
  /** Whitespace after the last stanza. */
  readonly tail: string
  readonly closed: boolean
}

export const STREAM_CLOSE = '</stream:stream>'

export function streamXml(s: StreamCase): string {
  return s.prefix + s.stanzas.map((st) => st.ws + st.element.xml).join('') + s.tail + (s.closed ? STREAM_CLOSE : '')
}

const headerAttrName = fc.constantFrom('to', 'from', 'id', 'version', 'xml:lang', 'a-b')

/** A valid XMPP stream: header, stanzas with whitespace between them, maybe the end tag. */
export function streamArb(stanza: fc.Arbitrary<Built<XEl>> = elementArb(), maxStanzas = 5): fc.Arbitrary<StreamCase> {
  return fc
    .record({
      decl: XML_DECL,
      lead: ws0,
      extra: fc.uniqueArray(attrPiece(headerAttrName), { selector: (a) => a.name, maxLength: 4 }),
      headerWs: ws0,
      stanzas: fc.array(fc.record({ ws: ws0, element: stanza }), { maxLength: maxStanzas }),
      tail: ws0,
      closed: fc.boolean(),
    })
    .map(({ decl, lead, extra, headerWs, stanzas, tail, closed }) => {
      const fixed = [
        ['xmlns', 'jabber:client'],
        ['xmlns:stream', NS_STREAM],
      ] as const
      const header: XEl = { name: 'stream:stream', attrs: [...fixed, ...extra.map((a) => [a.name, a.value.model] as const)], children: [] }
      const prefix = `${decl}${lead}<stream:stream xmlns='jabber:client' xmlns:stream="${NS_STREAM}"${renderAttrs(extra)}${headerWs}>`
      return { prefix, header, stanzas, tail, closed }
    })
}

export interface DocumentCase {
  readonly xml: string
  readonly root: XEl
}

/** A valid single-element document (WebSocket message / BOSH-like body). */
export function documentArb(root: fc.Arbitrary<Built<XEl>> = elementArb()): fc.Arbitrary<DocumentCase> {
  return fc.tuple(XML_DECL, ws0, root, ws0).map(([decl, lead, el, trail]) => ({ xml: decl + lead + el.xml + trail, root: el.model }))
}

// ─── garbage and mutations ──────────────────────────────────────────────────

const TOKENS = [
  '<', '>', '/', '/>', '</', '=', "'", '"', '&', ';', '!', '?', '[', ']', ']]>', '-', ' ', '\n', 'a', 'b', ':',
  'stream:stream', 'stream', 'message', 'body', 'xmlns', "xmlns='jabber:client'", 'xml', '<?xml', '<!--', '-->',
  '<![CDATA[', 'CDATA', '&amp;', '&lt;', '&#x41;', '&#0;', '&#xD800;', '&foo;', '&#', 'é', '😀', '\u0000', '\ufeff', '\uffff',
]

/** Text made of XML-ish tokens: reaches deep scanner states far more often than random bytes. */
export const tokenSoup: fc.Arbitrary<string> = fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }).map((t) => t.join(''))

const SNIPPET_TEXT = [
  '<!--', '-->', '<!-- c -->', '<?', '?>', '<?php x ?>', "<?xml version='1.0'?>", '<!DOCTYPE a>', "<!DOCTYPE a [<!ENTITY x 'y'>]>",
  "<!ENTITY x 'y'>", '&foo;', '&', '&#0;', '&#x110000;', '&#xFFFE;', '&#65;', '&#x1F600;', '&amp', '<', '>', ']]>',
  '<![CDATA[', '<![CDATA[x]]>', '<![CDAT', "'", '"', '=', '/', '</a>', '<a>', '<a/>', '</stream:stream>', '<stream:stream>',
  "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", " a='1' a='2'", ' x', " x='<'",
  '\u0000', '\u0001', '\u000b', '\ufffe', '\uffff', '\ufeff', ' ', '\t', '\r\n', 'é', '😀',
]

const INVALID_UTF8: readonly number[][] = [
  [0xff], [0xfe], [0x80], [0xc3], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf0, 0x9f], [0xf0, 0x9f, 0x98],
  [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80],
]

export const snippet: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...SNIPPET_TEXT).map(utf8) },
  { weight: 3, arbitrary: fc.constantFrom(...INVALID_UTF8).map((b) => Uint8Array.from(b)) },
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 8 }) },
  // deep nesting
  { weight: 1, arbitrary: fc.integer({ min: 2, max: 120 }).map((n) => utf8('<a>'.repeat(n))) },
  // a huge attribute value
  { weight: 1, arbitrary: fc.integer({ min: 50, max: 3000 }).map((n) => utf8(` big='${'v'.repeat(n)}'`)) },
  // many attributes
  { weight: 1, arbitrary: fc.integer({ min: 2, max: 80 }).map((n) => utf8(Array.from({ length: n }, (_, i) => ` a${i}='x'`).join(''))) },
  // a long name
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 400 }).map((n) => utf8(`<${'n'.repeat(n)}>`)) },
  // a long run of text
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 2000 }).map((n) => utf8('t'.repeat(n))) },
)

export type Mutation =
  | { readonly kind: 'flip'; readonly pos: number; readonly mask: number }
  | { readonly kind: 'truncate'; readonly pos: number }
  | { readonly kind: 'insert'; readonly pos: number; readonly bytes: Uint8Array }
  | { readonly kind: 'delete'; readonly pos: number; readonly len: number }
  | { readonly kind: 'duplicate'; readonly pos: number; readonly len: number; readonly at: number }
  /** The first `len` bytes again (a second header / root), at the end or somewhere else. */
  | { readonly kind: 'duplicate-prefix'; readonly len: number; readonly at: number }

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('flip' as const), pos: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), pos: fc.nat() }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(), bytes: snippet }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 64 }), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicate-prefix' as const), len: fc.nat(), at: fc.nat() }) },
)

export function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let bytes = input
  const mod = (n: number, m: number): number => (m <= 0 ? 0 : n % m)
  for (const m of mutations) {
    switch (m.kind) {
      case 'flip': {
        if (bytes.length === 0) break
        const copy = bytes.slice()
        const i = mod(m.pos, copy.length)
        copy[i] = (copy[i] ?? 0) ^ m.mask
        bytes = copy
        break
      }
      case 'truncate':
        bytes = bytes.slice(0, mod(m.pos, bytes.length + 1))
        break
      case 'insert': {
        const i = mod(m.pos, bytes.length + 1)
        bytes = concatBytes([bytes.subarray(0, i), m.bytes, bytes.subarray(i)])
        break
      }
      case 'delete': {
        const i = mod(m.pos, bytes.length + 1)
        bytes = concatBytes([bytes.subarray(0, i), bytes.subarray(i + m.len)])
        break
      }
      case 'duplicate': {
        const i = mod(m.pos, bytes.length + 1)
        const piece = bytes.slice(i, i + m.len)
        const at = mod(m.at, bytes.length + 1)
        bytes = concatBytes([bytes.subarray(0, at), piece, bytes.subarray(at)])
        break
      }
      case 'duplicate-prefix': {
        const piece = bytes.slice(0, mod(m.len, bytes.length + 1))
        const at = mod(m.at, 2) === 0 ? bytes.length : mod(m.at, bytes.length + 1)
        bytes = concatBytes([bytes.subarray(0, at), piece, bytes.subarray(at)])
        break
      }
    }
  }
  return bytes
}

/** Valid input, then 1–4 mutations. */
export function mutated(valid: fc.Arbitrary<string>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([xml, ms]) => mutate(utf8(xml), ms))
}

/** Random bytes, random strings, token soup: no structure to speak of. */
export const garbageBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  anyString(60).map((s) => utf8(s)),
  tokenSoup.map(utf8),
  fc.tuple(tokenSoup, fc.array(mutation, { maxLength: 3 })).map(([s, ms]) => mutate(utf8(s), ms)),
)

/** Cut points for random chunking. */
export const cutsArb: fc.Arbitrary<number[]> = fc.array(fc.nat(), { maxLength: 12 })
