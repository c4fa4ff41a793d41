/**
 * Differential test of XmlTokenizer against saxes, an independent XML 1.0
 * parser (issue #10). Budget, seeds and replay: see ./fuzz.ts (FUZZ_SECONDS …).
 *
 * The oracle is built from saxes events alone (positions, names, raw and
 * expanded attribute values, text) plus the documented rules the tokenizer
 * adds on top of XML 1.0; it never calls the tokenizer's own code:
 *
 * - saxes refuses (or the bytes are not UTF-8) → the tokenizer refuses too,
 *   and no element it emitted reaches past the first bad character.
 * - saxes accepts → the first "profile violation" in input order decides:
 *   a comment, processing instruction or DOCTYPE (RFC 6120 §11.1) →
 *   `restricted-xml`; a limit of limits.ts or an attribute named
 *   `__proto__` → `policy-violation`; an XML declaration naming a version
 *   other than 1.0 → `not-well-formed`, or an encoding other than UTF-8
 *   (RFC 6120 §11.6) → `unsupported-encoding`; none → accepted. Either way the events
 *   before the violation are exactly the complete elements saxes saw, with
 *   exact bytes, names, attributes and content.
 * - the whole input, byte by byte, random chunks and a reused tokenizer
 *   give identical results.
 *
 * Any disagreement fails the property. The disagreements the fuzzing found
 * have been fixed, and are pinned at the end of this file by plain
 * assertions on minimal reproducers. The one known gap left (GAPS) is not an
 * XML 1.0 rule, so saxes without namespaces never shows it: the namespace
 * property counts it, and a `todo` assertion pins it.
 */
import t from 'tap'
import type { Test } from 'tap'
import fc from 'fast-check'
import { SaxesParser } from 'saxes'
import { XmlTokenizer } from '../../../src/core/xml/tokenizer.js'
import type { FramingMode, XmlElement, XmlSink } from '../../../src/core/xml/tokenizer.js'
import type { XmlLimits } from '../../../src/core/xml/limits.js'
import type { StreamFailure } from '../../../src/core/conditions.js'
import { XML_LIMITS } from '../../support/limits.js'
import { checkProperty, chunk, concatBytes, cutsArb, documentArb, elementArb, garbageBytes, mutated, NS_STREAM, streamArb, streamXml, textArb, utf8, ws0, XML_DECL } from './fuzz.js'

type Condition = StreamFailure['condition']
const MODES: readonly FramingMode[] = ['stream', 'message', 'body']
const HTTPBIND = 'http://jabber.org/protocol/httpbind'
const JABBER_CLIENT = 'jabber:client'

// ─── the tokenizer, recorded ────────────────────────────────────────────────

interface TokEvent {
  readonly kind: 'rootStart' | 'element' | 'rootEnd' | 'error'
  readonly element?: XmlElement
  /** A copy of the element's bytes taken when it was emitted. */
  readonly snapshot?: Uint8Array
  readonly failure?: StreamFailure
}

interface TokRun {
  readonly events: TokEvent[]
  readonly failed: boolean
  readonly complete: boolean
  readonly started: boolean
  readonly rootText: boolean
}

class Recorder implements XmlSink {
  events: TokEvent[] = []
  rootStart(root: XmlElement): void {
    this.events.push({ kind: 'rootStart', element: root, snapshot: root.bytes.slice() })
  }
  element(element: XmlElement): void {
    this.events.push({ kind: 'element', element, snapshot: element.bytes.slice() })
  }
  rootEnd(): void {
    this.events.push({ kind: 'rootEnd' })
  }
  error(failure: StreamFailure): void {
    this.events.push({ kind: 'error', failure })
  }
}

/** Feed `chunks` then end(); `reuse` is a tokenizer (with its recorder) that is reset first. */
function tokenize(mode: FramingMode, limits: XmlLimits, chunks: readonly Uint8Array[], reuse?: { tokenizer: XmlTokenizer; recorder: Recorder }): TokRun {
  const recorder = reuse?.recorder ?? new Recorder()
  const tokenizer = reuse?.tokenizer ?? new XmlTokenizer(mode, limits, recorder)
  if (reuse) {
    tokenizer.reset()
    recorder.events = []
  }
  for (const c of chunks) tokenizer.write(c)
  tokenizer.end()
  return { events: recorder.events, failed: tokenizer.failed, complete: tokenizer.complete, started: tokenizer.started, rootText: tokenizer.rootText }
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex')

/** Everything observable about a run, as plain data. */
function observable(run: TokRun): unknown {
  return {
    events: run.events.map((e) =>
      e.element
        ? { kind: e.kind, bytes: hex(e.element.bytes), name: e.element.name, nameEnd: e.element.nameEnd, usesPrefixes: e.element.usesPrefixes, attrs: Object.entries(e.element.attrs()) }
        : { kind: e.kind, failure: e.failure },
    ),
    failed: run.failed,
    complete: run.complete,
    started: run.started,
    rootText: run.rootText,
  }
}

// ─── the oracle: what saxes reads ───────────────────────────────────────────

class Mismatch extends Error {}

function check(condition: boolean, message: string, detail?: unknown): asserts condition {
  if (!condition) throw new Mismatch(detail === undefined ? message : `${message}: ${JSON.stringify(detail)}`)
}

function same(actual: unknown, expected: unknown, message: string): void {
  const a = JSON.stringify(actual)
  const e = JSON.stringify(expected)
  check(a === e, `${message}\n  actual:   ${a}\n  expected: ${e}`)
}

interface Tree {
  readonly name: string
  readonly attrs: Array<[string, string]>
  readonly children: Array<string | Tree>
}

interface SaxAttr {
  readonly name: string
  /** As saxes reports it: references expanded, whitespace normalised (XML 1.0 §3.3.3). */
  readonly value: string
  /** As written between the quotes. */
  readonly raw: string
  readonly quote: string
}

interface SaxTag {
  readonly name: string
  readonly depth: number
  /** String index of its `<`. */
  readonly start: number
  /** String index just after its start tag's `>`. */
  readonly end: number
  /** String index just after its end tag (or `/>`), once closed. */
  closeEnd?: number
  readonly attrs: SaxAttr[]
  readonly tree: Tree
}

interface Parsed {
  readonly text: string
  /** String positions at which saxes reported an error while reading. */
  readonly readErrors: number[]
  /** What saxes said at close(): an incomplete document. */
  readonly closeErrors: string[]
  readonly tags: SaxTag[]
  /** Comments, PIs and DOCTYPEs: from the end of the previous event to their own end. */
  readonly restricted: Array<{ readonly kind: string; readonly from: number; readonly to: number }>
  /** Where the last complete event ended. */
  readonly lastEnd: number
  /** Character data directly inside the root that is not whitespace (references expanded, CDATA included). */
  readonly rootChars: { spec: boolean }
  /** The XML declaration, with the string index just after it. */
  readonly decl?: { readonly version?: string; readonly encoding?: string; readonly end: number }
}

const XML_SPACE = /^[ \t\r\n]*$/

/** Read a whole string with saxes (no namespaces: XML 1.0 only), recording positions. */
function saxesRead(text: string): Parsed {
  const parser = new SaxesParser({ position: true })
  const readErrors: number[] = []
  const closeErrors: string[] = []
  const tags: SaxTag[] = []
  const open: SaxTag[] = []
  const restricted: Array<{ kind: string; from: number; to: number }> = []
  const rootChars = { spec: false }
  let decl: Parsed['decl']
  let attrs: SaxAttr[] = []
  let tagStart = 0
  let lastEnd = 0
  let closing = false
  const appendText = (s: string): void => {
    const top = open[open.length - 1]
    if (!top) return
    const children = top.tree.children
    const last = children[children.length - 1]
    if (typeof last === 'string') children[children.length - 1] = last + s
    else if (s !== '') children.push(s)
  }
  parser.on('error', (e) => (closing ? closeErrors.push(e.message) : readErrors.push(parser.position)))
  parser.on('xmldecl', (d) => {
    lastEnd = parser.position
    decl = { version: d.version, encoding: d.encoding, end: parser.position }
  })
  parser.on('opentagstart', () => {
    attrs = []
    tagStart = text.lastIndexOf('<', parser.position - 1)
  })
  parser.on('attribute', (a) => {
    const end = parser.position
    const quote = text[end - 1] ?? ''
    const from = text.lastIndexOf(quote, end - 2) + 1
    attrs.push({ name: a.name, value: a.value, raw: text.slice(from, end - 1), quote })
  })
  parser.on('opentag', (tag) => {
    const tree: Tree = { name: tag.name, attrs: attrs.map((a) => [a.name, a.value]), children: [] }
    open[open.length - 1]?.tree.children.push(tree)
    const saxTag: SaxTag = { name: tag.name, depth: open.length + 1, start: tagStart, end: parser.position, attrs, tree }
    tags.push(saxTag)
    open.push(saxTag)
    lastEnd = parser.position
  })
  parser.on('closetag', () => {
    const tag = open.pop()
    if (tag) tag.closeEnd = parser.position
    lastEnd = parser.position
  })
  parser.on('text', (s) => {
    // close() flushes whatever it was collecting, even an unfinished attribute value: not an event of the input.
    if (closing) return
    // A text event fires once the `<` after it has been read.
    const rawEnd = parser.position - 1
    if (open.length === 1) {
      if (!XML_SPACE.test(s)) rootChars.spec = true
    }
    appendText(s)
    lastEnd = rawEnd
  })
  parser.on('cdata', (s) => {
    if (open.length === 1 && !XML_SPACE.test(s)) rootChars.spec = true
    appendText(s)
    lastEnd = parser.position
  })
  for (const kind of ['comment', 'processinginstruction', 'doctype'] as const) {
    parser.on(kind, () => {
      // A comment is reported before its final '>'.
      const to = kind === 'comment' ? Math.min(text.length, parser.position + 1) : parser.position
      restricted.push({ kind, from: lastEnd, to })
      lastEnd = to
    })
  }
  parser.write(text)
  closing = true
  parser.close()
  return { text, readErrors, closeErrors, tags, restricted, lastEnd, rootChars, ...(decl ? { decl } : {}) }
}

/** UTF-8 offsets of every string index (a low surrogate gets its pair's start). */
function byteOffsets(text: string): Uint32Array {
  const at = new Uint32Array(text.length + 1)
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    at[i] = bytes
    const c = text.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      at[i + 1] = bytes
      bytes += 4
      i++
    } else bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : 3
  }
  at[text.length] = bytes
  return at
}

/** Index of the first byte that does not start a valid UTF-8 sequence (Unicode Table 3-7), or the length. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0
  while (i < bytes.length) {
    const b = bytes[i] as number
    if (b < 0x80) {
      i++
      continue
    }
    const n = b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : 0
    if (n === 0) return i
    for (let k = 1; k <= n; k++) {
      const c = bytes[i + k]
      if (c === undefined) return i
      const lo = k === 1 && b === 0xe0 ? 0xa0 : k === 1 && b === 0xf0 ? 0x90 : 0x80
      const hi = k === 1 && b === 0xed ? 0x9f : k === 1 && b === 0xf4 ? 0x8f : 0xbf
      if (c < lo || c > hi) return i
    }
    i += n + 1
  }
  return bytes.length
}

// ─── what the tokenizer must report ─────────────────────────────────────────

interface Expected {
  readonly kind: 'rootStart' | 'element' | 'rootEnd'
  readonly tag: SaxTag
  /** Byte span in the input. */
  readonly from: number
  readonly to: number
}

/** The complete events saxes saw, in the order the tokenizer reports them. */
function expectedEvents(mode: FramingMode, parsed: Parsed, at: Uint32Array): Expected[] {
  const out: Array<Expected & { order: number }> = []
  const b = (i: number): number => at[i] as number
  for (const tag of parsed.tags) {
    if (mode === 'message') {
      if (tag.depth === 1 && tag.closeEnd !== undefined) out.push({ kind: 'element', tag, from: b(tag.start), to: b(tag.closeEnd), order: 1 })
      continue
    }
    if (tag.depth === 1) {
      out.push({ kind: 'rootStart', tag, from: b(tag.start), to: b(tag.end), order: 0 })
      if (tag.closeEnd !== undefined) out.push({ kind: 'rootEnd', tag, from: b(tag.closeEnd), to: b(tag.closeEnd), order: 2 })
    } else if (tag.depth === 2 && tag.closeEnd !== undefined) {
      out.push({ kind: 'element', tag, from: b(tag.start), to: b(tag.closeEnd), order: 1 })
    }
  }
  return out.sort((x, y) => x.to - y.to || x.order - y.order)
}

interface Violation {
  readonly conditions: readonly Condition[]
  /** Byte range in which the tokenizer must stop (it may stop at any byte of it). */
  readonly from: number
  readonly to: number
  readonly why: string
}

/**
 * Everything in a saxes-accepted input that the tokenizer must refuse:
 * restricted XML (RFC 6120 §11.1), the XML declaration's version and
 * encoding, and the limits of limits.ts.
 */
function violations(mode: FramingMode, parsed: Parsed, at: Uint32Array, events: readonly Expected[], limits: XmlLimits, length: number): Violation[] {
  const b = (i: number): number => at[i] as number
  const out: Violation[] = []
  const decl = parsed.decl
  if (decl) {
    // saxes takes any 1.x (and reads 1.1 by XML 1.1 rules) and any encoding name.
    if (decl.version !== '1.0') out.push({ conditions: ['not-well-formed'], from: 0, to: b(decl.end), why: `XML declaration version ${decl.version}` })
    else if (decl.encoding !== undefined && decl.encoding.toLowerCase() !== 'utf-8') {
      out.push({ conditions: ['unsupported-encoding'], from: 0, to: b(decl.end), why: `XML declaration encoding ${decl.encoding}` })
    }
  }
  for (const r of parsed.restricted) out.push({ conditions: ['restricted-xml'], from: b(r.from), to: b(r.to), why: r.kind })
  const bytes = (s: string): number => Buffer.byteLength(s, 'utf8')
  for (const tag of parsed.tags) {
    const why: string[] = []
    if (tag.depth > limits.maxDepth) why.push(`depth ${tag.depth}`)
    if (bytes(tag.name) > limits.maxNameBytes) why.push(`name ${tag.name}`)
    if (tag.attrs.length > limits.maxAttributes) why.push(`${tag.attrs.length} attributes`)
    for (const a of tag.attrs) {
      if (bytes(a.name) > limits.maxNameBytes) why.push(`attribute name ${a.name}`)
      if (bytes(a.raw) > limits.maxAttributeValueBytes) why.push(`value of ${a.name}`)
      if (a.name === '__proto__') why.push('__proto__')
    }
    if (why.length > 0) out.push({ conditions: ['policy-violation'], from: b(tag.start), to: b(tag.end), why: why.join(', ') })
  }
  // The byte budget: each unit (stream: the header, each stanza with the
  // whitespace before it, the rest; otherwise the whole input) holds at most
  // maxStanzaBytes; the first byte past it is refused.
  const boundaries = mode === 'stream' ? [0, ...events.map((e) => e.to), length] : [0, length]
  for (let k = 0; k + 1 < boundaries.length; k++) {
    const unitStart = boundaries[k] as number
    if ((boundaries[k + 1] as number) - unitStart > limits.maxStanzaBytes) {
      const p = unitStart + limits.maxStanzaBytes
      out.push({ conditions: ['policy-violation'], from: p, to: p + 1, why: `byte budget from ${unitStart}` })
      break
    }
  }
  return out.sort((x, y) => x.from - y.from)
}

type Verdict =
  | { readonly kind: 'refuse-any'; readonly firstBad: number; readonly why: string }
  | { readonly kind: 'refuse'; readonly conditions: ReadonlySet<Condition>; readonly events: Expected[]; readonly why: string }
  | { readonly kind: 'accept'; readonly events: Expected[] }
  /** Stream mode, input ending inside a token saxes has not finished: either outcome, after exactly these events. */
  | { readonly kind: 'open'; readonly events: Expected[] }

interface Analysis {
  readonly verdict: Verdict
  readonly parsed?: Parsed
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** The verdict for one input. */
function analyse(mode: FramingMode, bytes: Uint8Array, limits: XmlLimits): Analysis {
  const bad = firstInvalidUtf8(bytes)
  const text = decoder.decode(bytes.subarray(0, bad))
  const parsed = saxesRead(text)
  const at = byteOffsets(text)
  const firstError = parsed.readErrors[0]
  if (firstError !== undefined) {
    // saxes reports an error once it has read the offending character.
    return { verdict: { kind: 'refuse-any', firstBad: Math.min(bad, at[Math.max(0, firstError - 1)] as number), why: 'saxes refuses' } }
  }
  if (bad < bytes.length) return { verdict: { kind: 'refuse-any', firstBad: bad, why: `invalid UTF-8 at byte ${bad}` } }
  const unfinished = parsed.closeErrors.some((m) => m.endsWith('unexpected end.'))
  if (mode !== 'stream' && parsed.closeErrors.length > 0) {
    return { verdict: { kind: 'refuse-any', firstBad: bytes.length, why: `saxes at the end: ${parsed.closeErrors.join(' ')}` } }
  }
  const events = expectedEvents(mode, parsed, at)
  const found = violations(mode, parsed, at, events, limits, bytes.length)
  const first = found[0]
  if (first) {
    // Whatever overlaps the first violation may be decided first (a budget ending inside a comment).
    const overlapping = found.filter((v) => v.from < first.to)
    const conditions = new Set<Condition>(overlapping.flatMap((v) => v.conditions))
    // In an unfinished stream, a budget past the last complete event may be beaten by the unfinished token.
    if (unfinished && first.from >= (at[parsed.lastEnd] as number)) for (const c of ['not-well-formed', 'restricted-xml'] as const) conditions.add(c)
    return { verdict: { kind: 'refuse', conditions, events: events.filter((e) => e.to <= first.from), why: overlapping.map((v) => v.why).join(' / ') }, parsed }
  }
  if (unfinished) return { verdict: { kind: 'open', events }, parsed }
  return { verdict: { kind: 'accept', events }, parsed }
}

// ─── comparing one element ──────────────────────────────────────────────────

/** A name as the tokenizer documents `usesPrefixes`: a ':' whose prefix is not `xml` or `xmlns` (an empty prefix counts). */
function prefixed(name: string): boolean {
  for (let i = name.indexOf(':'); i >= 0; i = name.indexOf(':', i + 1)) {
    const prefix = name.slice(0, i)
    if (prefix !== 'xml' && prefix !== 'xmlns') return true
  }
  return false
}

function subtreeUsesPrefixes(tree: Tree): boolean {
  return prefixed(tree.name) || tree.attrs.some(([n]) => prefixed(n)) || tree.children.some((c) => typeof c !== 'string' && subtreeUsesPrefixes(c))
}

function compareElement(expected: Expected, e: XmlElement, snapshot: Uint8Array | undefined, input: Uint8Array): void {
  const tag = expected.tag
  const span = input.subarray(expected.from, expected.to)
  same(hex(e.bytes), hex(span), `${expected.kind} ${tag.name}: bytes are exactly the input from '<' to '>'`)
  if (snapshot) same(hex(e.bytes), hex(snapshot), `${tag.name}: bytes unchanged since emitted`)
  same(e.name, tag.name, 'name')
  const colon = tag.name.indexOf(':')
  same([e.prefix, e.localName], colon < 0 ? [undefined, tag.name] : [tag.name.slice(0, colon), tag.name.slice(colon + 1)], `${tag.name}: prefix and localName`)
  same(e.nameEnd, 1 + Buffer.byteLength(tag.name), `${tag.name}: nameEnd`)
  // Attribute values as saxes reads them: references expanded, whitespace normalised (XML 1.0 §3.3.3).
  same(Object.entries(e.attrs()), tag.attrs.map((a) => [a.name, a.value]), `${tag.name}: attrs() in document order`)
  for (const a of tag.attrs) {
    same(e.attr(a.name), a.value, `${tag.name}: attr('${a.name}')`)
    check(e.has(a.name), `${tag.name}: has('${a.name}')`)
  }
  for (const absent of ['zz-absent', 'to', 'xmlns']) {
    if (tag.attrs.some((a) => a.name === absent)) continue
    same(e.attr(absent), undefined, `${tag.name}: attr('${absent}') of an absent attribute`)
    check(!e.has(absent), `${tag.name}: has('${absent}') of an absent attribute`)
  }
  if (expected.kind === 'rootStart') {
    same(e.usesPrefixes, prefixed(tag.name) || tag.attrs.some((a) => prefixed(a.name)), `${tag.name}: usesPrefixes of the start tag`)
    return
  }
  same(e.usesPrefixes, subtreeUsesPrefixes(tag.tree), `${tag.name}: usesPrefixes`)
  // Content: the element's own bytes, read again by saxes as a document, are the same tree.
  const again = saxesRead(new TextDecoder().decode(e.bytes))
  same([...again.readErrors, ...again.closeErrors], [], `${tag.name}: its bytes alone are a well-formed document`)
  same(again.tags[0]?.tree, tag.tree, `${tag.name}: same content as in the whole input`)
}

// ─── one input, all checks ──────────────────────────────────────────────────

/** Events, errors and flags every run must satisfy, whatever the input. */
function checkShape(mode: FramingMode, run: TokRun): void {
  const kinds = run.events.map((e) => e.kind)
  const errors = kinds.filter((k) => k === 'error').length
  check(errors <= 1 && (errors === 0 || kinds[kinds.length - 1] === 'error'), 'at most one error, and it comes last', kinds)
  check(run.failed === (errors === 1), '`failed` reflects the error', kinds)
  const body = kinds.filter((k) => k !== 'error')
  if (mode === 'message') check(body.every((k) => k === 'element') && body.length <= 1, 'message: at most one element', kinds)
  else {
    const pattern = /^(rootStart(,element)*(,rootEnd)?)?$/
    check(pattern.test(body.join(',')), `${mode}: rootStart, elements, rootEnd`, kinds)
  }
  if (body.length > 0) check(run.started, 'started once the root was read')
}

/** The input for a failure message (invalid UTF-8 shows as U+FFFD; fast-check prints the exact bytes). */
const describe = (bytes: Uint8Array): string => JSON.stringify(new TextDecoder().decode(bytes))

/** The differential check of one input (fed whole); throws a Mismatch. */
function differential(mode: FramingMode, limits: XmlLimits, bytes: Uint8Array): void {
  const run = tokenize(mode, limits, [bytes])
  checkShape(mode, run)
  const { verdict, parsed } = analyse(mode, bytes, limits)
  const failure = run.events.find((e) => e.kind === 'error')?.failure
  const emitted = run.events.filter((e) => e.kind !== 'error')
  const where = `${mode} ${describe(bytes)}`
  const key = `${mode} ${verdict.kind}${verdict.kind === 'refuse' ? ` ${[...verdict.conditions].join('|')}` : ''}`
  verdicts.set(key, (verdicts.get(key) ?? 0) + 1)
  switch (verdict.kind) {
    case 'refuse-any': {
      check(failure !== undefined, `the tokenizer accepts what a conforming parser refuses (${verdict.why}): ${where}`)
      // Only elements entirely before the first bad character may come out (fed whole, each is a view of the input).
      for (const e of emitted) {
        if (e.kind !== 'element' || !e.element) continue
        const bytesOf = e.element.bytes
        check(bytesOf.buffer === bytes.buffer, `an element is a view of the input: ${where}`)
        const end = bytesOf.byteOffset - bytes.byteOffset + bytesOf.length
        check(end <= verdict.firstBad, `an element ending at byte ${end}, past the first error (byte ${verdict.firstBad}), was emitted: ${where}`)
      }
      return
    }
    case 'refuse': {
      check(failure !== undefined, `the tokenizer accepts input with ${verdict.why}: ${where}`)
      check(verdict.conditions.has(failure.condition), `refused with ${failure.condition} (${failure.text}), expected ${[...verdict.conditions].join(' or ')} for ${verdict.why}: ${where}`)
      compareEvents(verdict.events, emitted, bytes, where)
      return
    }
    case 'open':
      compareEvents(verdict.events, emitted, bytes, where)
      return
    case 'accept': {
      check(failure === undefined, `the tokenizer refuses well-formed, unrestricted input within the limits with ${failure?.condition} (${failure?.text}): ${where}`)
      compareEvents(verdict.events, emitted, bytes, where)
      if (mode !== 'stream') check(run.complete, '`complete` once the document is read')
      if (mode === 'body' && parsed) same(run.rootText, parsed.rootChars.spec, `rootText (${where})`)
      return
    }
  }
}

function compareEvents(expected: readonly Expected[], emitted: readonly TokEvent[], input: Uint8Array, where: string): void {
  same(
    emitted.map((e) => `${e.kind} ${e.element?.name ?? ''}`),
    expected.map((e) => `${e.kind} ${e.kind === 'rootEnd' ? '' : e.tag.name}`),
    `events (${where})`,
  )
  expected.forEach((x, i) => {
    const e = emitted[i] as TokEvent
    if (x.kind === 'rootEnd' || !e.element) return
    compareElement(x, e.element, e.snapshot, input)
    if (x.kind === 'element') {
      // Fed in one piece, an element is a view of that piece (zero-copy).
      check(e.element.bytes.buffer === input.buffer && e.element.bytes.byteOffset === input.byteOffset + x.from, `${x.tag.name}: a view of the input`)
    }
  })
}

// ─── known gaps: disagreements found, reported, not fixed here ──────────────

/**
 * Every known disagreement: the name the counts use → the rule involved.
 * Each one is pinned by `todo` assertions at the end of this file.
 */
const GAPS = {
  'namespace-well-formedness': 'XML-NAMES / RFC 6120 §11.3 namespace-well-formedness (unbound prefixes, xmlns:p="", a:b:c) is not checked',
} as const
type GapName = keyof typeof GAPS

const counts = new Map<GapName, number>()
const note = (name: GapName): void => {
  counts.set(name, (counts.get(name) ?? 0) + 1)
}
/** How often each mode met each verdict: shows what the generators reach. */
const verdicts = new Map<string, number>()

/** Differential check: any disagreement fails (a Mismatch). */
function checkInput(mode: FramingMode, limits: XmlLimits, bytes: Uint8Array): void {
  differential(mode, limits, bytes)
}

// ─── inputs ─────────────────────────────────────────────────────────────────

const modeArb = fc.constantFrom(...MODES)

/** A BOSH-like body: elements, and now and then character data (text, CDATA) directly inside it. */
const bodyDocument: fc.Arbitrary<string> = fc
  .tuple(XML_DECL, ws0, fc.array(fc.tuple(ws0, fc.oneof({ weight: 4, arbitrary: elementArb({ maxDepth: 2 }) }, { weight: 1, arbitrary: textArb })), { maxLength: 4 }), ws0, fc.boolean())
  .map(([decl, lead, children, tail, selfClose]) => {
    const open = `<body rid='1' xmlns='${HTTPBIND}'`
    if (children.length === 0 && selfClose) return `${decl}${lead}${open}/>${tail}`
    return `${decl}${lead}${open}>${joinText(children.map(([w, c]) => w + c.xml))}</body>${tail}`
  })

/** Join content pieces without forming ']]>' across a boundary (XML 1.0 §2.4): such a '>' is written '&gt;'. */
function joinText(pieces: readonly string[]): string {
  let out = ''
  for (const piece of pieces) {
    if (out.endsWith(']]') && piece.startsWith('>')) out += '&gt;' + piece.slice(1)
    else if (out.endsWith(']') && piece.startsWith(']>')) out += ']&gt;' + piece.slice(2)
    else out += piece
  }
  return out
}

const validText: Record<FramingMode, fc.Arbitrary<string>> = {
  message: documentArb().map((d) => d.xml),
  body: bodyDocument,
  stream: streamArb().map(streamXml),
}

/** Code points for names: XML name characters, near misses and anything at all. */
const nameCodePoint: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(
    0xe9,
    0x4e2d,
    0x1d4b3,
    0xb7,
    0x203f,
    0x2070,
    0x300,
    0x36f,
    0x37e,
    0x2000,
    0x200c,
    0x3000,
    0xe000,
    0xf8ff,
    0xd7,
    0xf7,
    0xb6,
    0xaa,
    0xfdd0,
    0xfdf0,
    0xeffff,
    0xf0000,
    0x10ffff,
    0x85,
    0xa0,
  ),
  fc.integer({ min: 0x80, max: 0x10ffff }).filter((c) => c < 0xd800 || c > 0xdfff),
)
const oddName: fc.Arbitrary<string> = fc.tuple(fc.constantFrom('', 'a', 'n-'), nameCodePoint, fc.constantFrom('', 'b', '1')).map(([before, cp, after]) => before + String.fromCodePoint(cp) + after)

// prettier-ignore
const CONTENT_SNIPPETS = [
  // entities and character references
  '&foo;', '&nbsp;', '&AMP;', '&amp', 'a & b', '&;', '&#;', '&#x;', '&lt', '&constructor;', '&abcdefghijklmn;', '&amp;&lt;&gt;&quot;&apos;', '&#65;',
  '&#x41;', '&#x10FFFF;', '&#9;&#xA;&#13;&#x20;', '&#x0041;', '&#x000041;', '&#x0000041;', '&#0000065;', '&#00000065;', '&#0;', '&#x0;', '&#xD800;',
  '&#xDFFF;', '&#xFFFE;', '&#xFFFF;', '&#x110000;', '&#1114112;', '&#X41;', '&#x4G;', '&#-1;', '&#8;', '&#x1F;',
  '&#x000000000000000041;', '&#0000000000000000000065;', '&#x0000000000000000110000;', '&#x00000000000000000000;', '&#32;', '&#x0000020;', '&#10;&#9;',
  // `]]>` in text
  'a]]>b', ']]]>', ']]&gt;', ']>', ']]', ']]<x/>>',
  // tags
  '<p></q>', '<p></P>', '<p></p >', '</p>', '<p></p\n>', '<p></ p>', '<p></p x>', '<a b>', '<a b=c>', "<a b='1'c='2'>", '<a/ >', '< a>', '<1a/>',
  '<-a/>', "<a =''/>", "<a b = '1' />", "<a\tb='1'/>", '<a:b/>', '<:a/>', '<a:/>', '<a::b/>', '<xmlns:a/>', "<a __proto__='x'/>", "<a d='1' d='2'/>",
  '<a d=\'1\' d="1"/>', "<a v='x<y'/>", "<a v='>'/>", "<a v='a&b'/>", '<a v="\'"/>', "<a v='\"'/>", "<a v='x\ty\nz\r\nw'/>", "<a v='&#9;&#10;&#13;'/>",
  // CDATA
  '<![CDATA[a]]>', '<![CDATA[<&]]>', '<![CDATA[', '<![cdata[x]]>', '<![CDATA[]]]]>', '<![CDATA[ ]]>', '<![CDATA[]]]>', '<![CDATA[]] ]]>', '<![CDATA[\n\t]]>', '<![CDATA[]]>',
  // restricted XML
  '<!-- c -->', '<!---->', '<!-- a -- b -->', '<?pi x?>', "<?xml-stylesheet href='a'?>", '<?XML x?>', "<?xml version='1.0'?>", '<!DOCTYPE x>',
  "<!ENTITY x 'y'>", '<!ELEMENT a ANY>',
  // characters
  '\u0001', '\u000b', '\u001f', '\u007f', '\u0085', '\ufffe', '\uffff', '\ufeff', '\u00a0', '\r', '\r\n',
]

// prettier-ignore
const ATTR_SNIPPETS = [
  " v='x<y'", " v='a&b'", " v='&foo;'", " v='&#0;'", " v='&#x41;&amp;'", " v='x\ty\r\nz'", " d='1' d='2'", " __proto__='x'", ' bare', ' v=unquoted',
  " v='1'w='2'", " xmlns:p=''", " xmlns:p='urn:p' p:x='1'", " p:x='1'", " xml:lang='en'", " v='&#x0000041;'", " v='\u0001'", " v='>]]>'",
  " v='&#x0000000000000041;'", " é='1'", " :v='1'", " v='a\r\nb\tc\rd\ne'", " v='&#9;\t'",
]

// prettier-ignore
const PROLOG_SNIPPETS = [
  '', '', '', "<?xml version='1.0'?>", '\ufeff', '\ufeff<?xml version="1.0" encoding="UTF-8"?>', " <?xml version='1.0'?>", '<?xml?>', '<?xml foo?>',
  "<?xml version='2.0'?>", "<?xml version='1.0' standalone='maybe'?>", '<!DOCTYPE r>', '<!-- c -->', '<?pi?>', 'text', '&amp;', '</x>',
  "<?xml version='1.1'?>", "<?xml version='1.0' encoding='ISO-8859-1'?>", '<?xml version = "1.0" encoding=\'utf-8\' standalone="no" ?>',
  "<?xml version='1.0' standalone='yes' encoding='UTF-8'?>", "<?xml version='1.0'encoding='UTF-8'?>", "<?xml version='1.0'?>\n<?xml version='1.0'?>",
  '<![CDATA[x]]>', '\n\t ',
]

const EPILOG_SNIPPETS = ['', '', '', ' ', '\n', '<!-- c -->', '<?pi?>', 'text', '<second/>', '</extra>', '&amp;', '\ufeff', '<![CDATA[x]]>', ']]>']

const INVALID_UTF8 = [[0xff], [0x80], [0xc3], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf0, 0x9f, 0x98], [0xc0, 0xaf], [0xf4, 0x90, 0x80, 0x80]]

const hostileContent: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...CONTENT_SNIPPETS).map(utf8) },
  { weight: 3, arbitrary: elementArb({ maxDepth: 2 }).map((e) => utf8(e.xml)) },
  { weight: 2, arbitrary: textArb.map((x) => utf8(x.xml)) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 150 }).map((n) => utf8('<d>'.repeat(n) + 'x' + '</d>'.repeat(n))) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 150 }).map((n) => utf8('<d>'.repeat(n))) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 1, max: 60 }), fc.boolean()).map(([n, dup]) => utf8(`<m${Array.from({ length: n }, (_, i) => ` a${i}='${i}'`).join('')}${dup ? " a0='x'" : ''}/>`)),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 300 }).map((n) => utf8(`<${'n'.repeat(n)} ${'k'.repeat(n)}='${'v'.repeat(n)}'/>`)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(oddName, fc.constantFrom('element', 'attribute', 'end'))
      .map(([name, where]) => utf8(where === 'element' ? `<${name}/>` : where === 'attribute' ? `<a ${name}='1'/>` : `<${name}></${name}>`)),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom('<t>', "<t v='", '<t', '</t', ''), fc.constantFrom(...INVALID_UTF8)).map(([before, bad]) => concatBytes([utf8(before), Uint8Array.from(bad)])),
  },
)

/** A document in the mode's shape with hostile pieces in its prolog, start tag, content and epilog. */
function hostile(mode: FramingMode): fc.Arbitrary<Uint8Array> {
  const root = mode === 'stream' ? `stream:stream xmlns='${JABBER_CLIENT}' xmlns:stream='${NS_STREAM}'` : mode === 'body' ? `body rid='1' xmlns='${HTTPBIND}'` : 'message'
  const name = root.split(' ')[0] as string
  return fc
    .record({
      prolog: fc.constantFrom(...PROLOG_SNIPPETS),
      attrs: fc.array(fc.constantFrom(...ATTR_SNIPPETS), { maxLength: 2 }),
      content: fc.array(fc.tuple(ws0, hostileContent), { maxLength: 4 }),
      close: fc.constantFrom(`</${name}>`, `</${name}>`, `</${name}>`, '', '</wrong>', `</${name} >`),
      epilog: fc.constantFrom(...EPILOG_SNIPPETS),
    })
    .map(({ prolog, attrs, content, close, epilog }) => concatBytes([utf8(`${prolog}<${root}${attrs.join('')}>`), ...content.flatMap(([w, c]) => [utf8(w), c]), utf8(close + epilog)]))
}

const RESTRICTED = ['<!-- c -->', '<!---->', '<?pi x?>', '<?pi?>', '<!DOCTYPE r>', "<!DOCTYPE r [<!ENTITY x 'y'>]>", '<?xml-stylesheet href="a"?>']

/** A valid document with a comment, PI or DOCTYPE put after one of its '>' (or first). */
function withRestricted(mode: FramingMode): fc.Arbitrary<Uint8Array> {
  return fc.tuple(validText[mode], fc.constantFrom(...RESTRICTED), fc.nat()).map(([xml, construct, n]) => {
    const ends = [0, ...[...xml.matchAll(/>/g)].map((m) => (m.index as number) + 1)]
    const at = ends[n % ends.length] as number
    return utf8(xml.slice(0, at) + construct + xml.slice(at))
  })
}

/**
 * A valid document with one hostile piece: content after one of its '>', or
 * an attribute after one of its start tags' names. Any disagreement then
 * comes from that piece alone.
 */
function withOneDefect(mode: FramingMode): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(
      validText[mode],
      fc.oneof(
        fc.constantFrom(...CONTENT_SNIPPETS).map((x) => ['content', x] as const),
        fc.constantFrom(...ATTR_SNIPPETS).map((x) => ['attribute', x] as const),
      ),
      fc.nat(),
    )
    .map(([xml, [where, piece], n]) => {
      const places = where === 'content' ? [...xml.matchAll(/>/g)].map((m) => (m.index as number) + 1) : [...xml.matchAll(/<[^\s/>!?]+/g)].map((m) => (m.index as number) + m[0].length)
      const at = places.length === 0 ? 0 : (places[n % places.length] as number)
      return utf8(xml.slice(0, at) + piece + xml.slice(at))
    })
}

function inputFor(mode: FramingMode): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 3, arbitrary: validText[mode].map(utf8) },
    { weight: 2, arbitrary: withRestricted(mode) },
    { weight: 4, arbitrary: withOneDefect(mode) },
    { weight: 3, arbitrary: mutated(validText[mode]) },
    { weight: 5, arbitrary: hostile(mode) },
    { weight: 2, arbitrary: garbageBytes },
  )
}

const modeAndInput: fc.Arbitrary<[FramingMode, Uint8Array]> = modeArb.chain((mode) => inputFor(mode).map((bytes): [FramingMode, Uint8Array] => [mode, bytes]))

/** Limits far beyond any generated input. */
const GENEROUS: XmlLimits = { maxStanzaBytes: 1 << 24, maxDepth: 1 << 16, maxAttributes: 1 << 16, maxAttributeValueBytes: 1 << 24, maxNameBytes: 1 << 16 }

const limitsArb: fc.Arbitrary<XmlLimits> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(GENEROUS) },
  { weight: 2, arbitrary: fc.constant(XML_LIMITS) },
  {
    weight: 2,
    arbitrary: fc.record({
      maxStanzaBytes: fc.integer({ min: 1, max: 2048 }),
      maxDepth: fc.integer({ min: 1, max: 10 }),
      maxAttributes: fc.integer({ min: 0, max: 8 }),
      maxAttributeValueBytes: fc.integer({ min: 0, max: 64 }),
      maxNameBytes: fc.integer({ min: 1, max: 24 }),
    }),
  },
)

const byteByByte = (bytes: Uint8Array): Uint8Array[] => Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1))

// ─── the properties ─────────────────────────────────────────────────────────

t.test('acceptance, condition and content agree with saxes', (t) => {
  checkProperty(
    t,
    'differential: tokenizer vs saxes',
    fc.property(modeAndInput, limitsArb, ([mode, bytes], limits) => checkInput(mode, limits, bytes)),
    { runs: 3000, share: 0.45 },
  )
  t.end()
})

/** Well-formed, unrestricted inputs, including the hostile shapes that are valid. */
const validShapes: fc.Arbitrary<[FramingMode, Uint8Array]> = modeArb.chain((mode) => fc.oneof(validText[mode].map(utf8), hostile(mode)).map((bytes): [FramingMode, Uint8Array] => [mode, bytes]))

t.test('every limit holds exactly at its bound', (t) => {
  const delta = fc.constantFrom(-1, 0, 0, 1, 1 << 20)
  checkProperty(
    t,
    'limits at the boundary',
    fc.property(validShapes, fc.record({ budget: delta, depth: delta, attributes: delta, value: delta, name: delta }), ([mode, bytes], d) => {
      // Measure the input with saxes, then put each bound just below, at or above what it needs.
      const { verdict, parsed } = analyse(mode, bytes, GENEROUS)
      if (verdict.kind !== 'accept' || !parsed) return
      const bytesOf = (s: string): number => Buffer.byteLength(s, 'utf8')
      const tags = parsed.tags
      const units = mode === 'stream' ? [0, ...verdict.events.map((e) => e.to), bytes.length] : [0, bytes.length]
      let unit = 0
      for (let k = 0; k + 1 < units.length; k++) unit = Math.max(unit, (units[k + 1] as number) - (units[k] as number))
      const need = {
        budget: Math.max(1, unit),
        depth: Math.max(1, ...tags.map((x) => x.depth)),
        attributes: Math.max(0, ...tags.map((x) => x.attrs.length)),
        value: Math.max(0, ...tags.flatMap((x) => x.attrs.map((a) => bytesOf(a.raw)))),
        name: Math.max(1, ...tags.flatMap((x) => [bytesOf(x.name), ...x.attrs.map((a) => bytesOf(a.name))])),
      }
      const limits: XmlLimits = {
        maxStanzaBytes: Math.max(1, need.budget + d.budget),
        maxDepth: Math.max(1, need.depth + d.depth),
        maxAttributes: Math.max(0, need.attributes + d.attributes),
        maxAttributeValueBytes: Math.max(0, need.value + d.value),
        maxNameBytes: Math.max(1, need.name + d.name),
      }
      checkInput(mode, limits, bytes)
    }),
    { runs: 1000, share: 0.2 },
  )
  t.end()
})

t.test('whole, byte by byte, random chunks and a reused tokenizer read the same', (t) => {
  const reused = new Map<FramingMode, { tokenizer: XmlTokenizer; recorder: Recorder; limits: XmlLimits }>()
  checkProperty(
    t,
    'chunking independence',
    fc.property(modeAndInput, limitsArb, cutsArb, ([mode, bytes], limits, cuts) => {
      const whole = observable(tokenize(mode, limits, [bytes]))
      same(observable(tokenize(mode, limits, byteByByte(bytes))), whole, 'byte by byte = whole')
      same(observable(tokenize(mode, limits, chunk(bytes, cuts))), whole, 'random chunks = whole')
      let shared = reused.get(mode)
      if (!shared || shared.limits !== limits) {
        const recorder = new Recorder()
        shared = { tokenizer: new XmlTokenizer(mode, limits, recorder), recorder, limits }
        reused.set(mode, shared)
      }
      same(observable(tokenize(mode, limits, chunk(bytes, cuts), shared)), whole, 'a tokenizer reset after earlier inputs = a fresh one')
    }),
    { runs: 2000, share: 0.25 },
  )
  t.end()
})

/** Namespace declarations without whitespace (saxes trims declared names, the tokenizer keeps them as written). */
const nsDocument: fc.Arbitrary<[FramingMode, Uint8Array]> = fc
  .record({
    mode: modeArb,
    rootDecl: fc.constantFrom('', " xmlns='urn:root'", " xmlns:p='urn:p'", " xmlns='urn:root' xmlns:p='urn:p'", " xmlns=''"),
    children: fc.array(
      fc.record({
        name: fc.constantFrom('a', 'p:a', 'q:a', 'xml:a'),
        decl: fc.constantFrom('', " xmlns='urn:own'", " xmlns:p='urn:own-p'", " xmlns:q='urn:q'", " xmlns=''", " xmlns:q=''"),
        inner: fc.constantFrom('', '<p:i/>', "<q:i xmlns:q='urn:q'/>", '<i/>', "<r:i r:x='1'/>"),
      }),
      { maxLength: 3 },
    ),
  })
  .map(({ mode, rootDecl, children }) => {
    const kids = children.map((c) => `<${c.name}${c.decl}>${c.inner}</${c.name}>`).join('')
    const xml = mode === 'message' ? `<m${rootDecl}>${kids}</m>` : mode === 'body' ? `<body${rootDecl}>${kids}</body>` : `<stream:stream xmlns:stream='${NS_STREAM}'${rootDecl}>${kids}`
    return [mode, utf8(xml)]
  })

t.test('namespace() agrees with saxes (xmlns: true) on namespace-well-formed input', (t) => {
  checkProperty(
    t,
    'namespaces',
    fc.property(nsDocument, ([mode, bytes]) => {
      checkInput(mode, GENEROUS, bytes)
      const text = new TextDecoder().decode(bytes)
      const parser = new SaxesParser({ xmlns: true })
      const errors: string[] = []
      const uris: Array<string | undefined> = []
      let depth = 0
      parser.on('error', (e) => errors.push(e.message))
      parser.on('opentag', (tag) => {
        depth++
        if (depth === (mode === 'message' ? 1 : 2)) uris.push(tag.prefix === 'xml' ? undefined : tag.uri)
      })
      parser.on('closetag', () => depth--)
      parser.write(text)
      if (mode !== 'stream') parser.close()
      const events = tokenize(mode, GENEROUS, [bytes]).events
      check(!events.some((e) => e.kind === 'error'), 'well-formed')
      if (errors.length > 0) {
        // XML-NAMES §5/§6 (RFC 6120 §11.3 namespace-well-formedness): not checked by the tokenizer.
        note('namespace-well-formedness')
        return
      }
      const root = events.find((e) => e.kind === 'rootStart')?.element
      const elements = events.filter((e) => e.kind === 'element')
      same(elements.length, uris.length, 'top-level elements')
      elements.forEach((e, i) => {
        const expected = uris[i]
        if (expected === undefined) return
        same((e.element as XmlElement).namespace(root?.attrs()) ?? '', expected, `namespace() of ${(e.element as XmlElement).name} in ${text}`)
      })
    }),
    { runs: 500, share: 0.1 },
  )
  t.end()
})

t.test('known gaps met while fuzzing (counts; each is pinned by a todo assertion below)', (t) => {
  for (const [name, n] of [...counts].sort()) t.comment(`${name}: ${n} (${GAPS[name]})`)
  for (const [name, n] of [...verdicts].sort()) t.comment(`verdict ${name}: ${n}`)
  t.pass('counted')
  t.end()
})

// ─── disagreements found by the fuzzing, pinned with minimal reproducers ───
//
// Each test states the reference behaviour (saxes, or the documented rule) and
// the tokenizer's behaviour as plain assertions. The gap still open states the
// tokenizer's expected behaviour as a `todo` assertion: it runs, and reports
// "not ok # TODO" until the tokenizer is fixed.

/** saxes' verdict on a whole document: the first error message, or undefined when well-formed. */
function saxesError(xml: string, xmlns = false): string | undefined {
  const parser = new SaxesParser({ xmlns })
  let error: string | undefined
  parser.on('error', (e) => (error ??= e.message))
  parser.write(xml).close()
  return error
}

function tokenizerVerdict(mode: FramingMode, xml: string, limits: XmlLimits = GENEROUS): string {
  const failure = tokenize(mode, limits, [utf8(xml)]).events.find((e) => e.kind === 'error')?.failure
  return failure ? `error ${failure.condition}` : 'accepted'
}

/** The same verdict fed whole and byte by byte (every rule is decided at one byte). */
function verdictAnySplit(t: Test, mode: FramingMode, xml: string, limits: XmlLimits = GENEROUS): string {
  t.same(observable(tokenize(mode, limits, byteByByte(utf8(xml)))), observable(tokenize(mode, limits, [utf8(xml)])), `byte by byte = whole: ${JSON.stringify(xml.slice(0, 60))}`)
  return tokenizerVerdict(mode, xml, limits)
}

const todo = (gap: GapName): { todo: string } => ({ todo: `known gap ${gap}: ${GAPS[gap]}` })

t.test('XML 1.0 §2.3: a name character outside NameStartChar/NameChar is not-well-formed', (t) => {
  for (const xml of ['<a\u3000/>', '<\ue000/>', '<a b\u2000="1"/>', '<a\u037e/>', '<\u0300a/>', '<\u{f0000}/>', '<\u00b7/>', '<a\u00d7/>', '<a\u2041/>', '<a\ufdd0/>']) {
    t.ok(saxesError(xml), `saxes refuses ${JSON.stringify(xml)}`)
    t.equal(verdictAnySplit(t, 'message', xml), 'error not-well-formed', `the tokenizer refuses ${JSON.stringify(xml)}`)
  }
  for (const xml of ['<a\u0300/>', '<a\u00b7b/>', '<\u037f/>', '<a\u203f\u2040/>', '<\u200c/>', '<\u3001/>', '<\ufdf0/>', '<\u{10000}/>', '<\u{effff}/>', '<\u00c0\u02ff/>', "<a \u00e9='1'/>"]) {
    t.equal(saxesError(xml), undefined, `saxes accepts ${JSON.stringify(xml)}`)
    t.equal(verdictAnySplit(t, 'message', xml), 'accepted', `the tokenizer accepts ${JSON.stringify(xml)}`)
  }
  t.end()
})

t.test('XML 1.0 §2.8: only a well-formed XML declaration, at the very start', (t) => {
  for (const xml of [
    " <?xml version='1.0'?><a/>",
    "\n<?xml version='1.0'?><a/>",
    '<?xml foo?><a/>',
    "<?xml version='2.0'?><a/>",
    "<?xml version='1.0' standalone='maybe'?><a/>",
    "<?xml version='1.0' <b>?><a/>",
    "<?xml encoding='UTF-8' version='1.0'?><a/>",
    "<?xml version='1.0' standalone='yes' encoding='UTF-8'?><a/>",
    "<?xml version='1.0'encoding='UTF-8'?><a/>",
    "<?xml version='1.0' version='1.0'?><a/>",
    '<?xml version="1.0\'?><a/>',
    "<?xml version='1.0'? ><a/>",
    "<?xml version='1.0'?><?xml version='1.0'?><a/>",
  ]) {
    t.ok(saxesError(xml), `saxes refuses ${JSON.stringify(xml)}`)
    t.not(verdictAnySplit(t, 'message', xml), 'accepted', `the tokenizer refuses ${JSON.stringify(xml)}`)
  }
  for (const xml of [
    "\ufeff<?xml version='1.0' encoding='UTF-8' standalone='yes'?><a/>",
    '<?xml version="1.0" encoding="utf-8" standalone="no" ?>\n<a/>',
    "<?xml\tversion = '1.0'\r\n encoding\n=\t'Utf-8'?><a/>",
    "<?xml version='1.0' standalone='no'?><a/>",
  ]) {
    t.equal(saxesError(xml), undefined, `saxes accepts ${JSON.stringify(xml)}`)
    t.equal(verdictAnySplit(t, 'message', xml), 'accepted', `the tokenizer accepts ${JSON.stringify(xml)}`)
  }
  // Well-formed XML that the profile refuses: XML 1.0 only, UTF-8 only (RFC 6120 §11.6).
  t.equal(saxesError("<?xml version='1.1'?><a/>"), undefined, 'saxes accepts version 1.1')
  t.equal(verdictAnySplit(t, 'message', "<?xml version='1.1'?><a/>"), 'error not-well-formed', 'the tokenizer reads XML 1.0 only')
  t.equal(verdictAnySplit(t, 'message', "<?xml version='1.0' encoding='ISO-8859-1'?><a/>"), 'error unsupported-encoding', 'another encoding')
  t.equal(verdictAnySplit(t, 'message', "<?xml version='1.0' encoding='UTF-16'?><a/>"), 'error unsupported-encoding', 'UTF-16')
  t.equal(verdictAnySplit(t, 'message', "<?xml-stylesheet href='a'?><a/>"), 'error restricted-xml', 'a processing instruction is still restricted XML')
  t.end()
})

t.test('XML 1.0 §4.1: a character reference may have leading zeros', (t) => {
  const zeros = '0'.repeat(1000)
  for (const xml of ['<a>&#x0000041;</a>', '<a>&#00000065;</a>', "<a b='&#x00000000041;'/>", `<a>&#x${zeros}10FFFF;&#${zeros}1114111;</a>`, '<a>&#x000041;</a>']) {
    t.equal(saxesError(xml), undefined, `saxes accepts ${xml.slice(0, 40)}`)
    t.equal(verdictAnySplit(t, 'message', xml), 'accepted', `the tokenizer accepts ${xml.slice(0, 40)}`)
  }
  for (const xml of [`<a>&#x${zeros};</a>`, `<a>&#x${zeros}110000;</a>`, `<a>&#${zeros}1114112;</a>`, '<a>&#x00000000000000000000000000000000000000000000000000100000041;</a>', '<a>&#1000000000000000000000000000065;</a>']) {
    t.ok(saxesError(xml), `saxes refuses ${xml.slice(0, 40)}`)
    t.equal(verdictAnySplit(t, 'message', xml), 'error not-well-formed', `the tokenizer refuses ${xml.slice(0, 40)}`)
  }
  // The zeros are bytes of the value as written: the value limit counts them.
  const limits: XmlLimits = { ...GENEROUS, maxAttributeValueBytes: 11 }
  t.equal(tokenizerVerdict('message', "<a b='&#x0000041;'/>", limits), 'accepted', '11 bytes fit')
  t.equal(tokenizerVerdict('message', "<a b='&#x00000041;'/>", limits), 'error policy-violation', '12 do not')
  t.end()
})

t.test('limits.ts maxAttributeValueBytes counts every byte of the value as written', (t) => {
  const limits: XmlLimits = { ...GENEROUS, maxAttributeValueBytes: 3 }
  t.equal(verdictAnySplit(t, 'message', "<a b='abc'/>", limits), 'accepted', '3 bytes fit')
  t.equal(verdictAnySplit(t, 'message', "<a b='abcd'/>", limits), 'error policy-violation', '4 bytes do not')
  t.equal(verdictAnySplit(t, 'message', "<a b='&lt;x'/>", limits), 'error policy-violation', "nor do the 5 bytes of '&lt;x'")
  t.equal(verdictAnySplit(t, 'message', "<a b='&lt;'/>", limits), 'error policy-violation', "nor the 4 bytes of '&lt;'")
  t.equal(verdictAnySplit(t, 'message', "<a b='&lt;'/>", { ...limits, maxAttributeValueBytes: 4 }), 'accepted', "'&lt;' fits in 4")
  t.end()
})

t.test('XML 1.0 §3.3.3: attribute values are normalised (literal TAB, CR, LF read as spaces)', (t) => {
  const xml = "<a b='x\ty\r\nz\rw\n' c='&#9;&#10;' d='plain'/>"
  let saxesValues: Record<string, string> = {}
  const parser = new SaxesParser()
  parser.on('opentag', (tag) => (saxesValues = { ...(tag.attributes as Record<string, string>) }))
  parser.write(xml).close()
  t.same(saxesValues, { b: 'x y z w ', c: '\t\n', d: 'plain' }, 'saxes: literal whitespace normalised, references kept')
  const e = tokenize('message', GENEROUS, [utf8(xml)]).events[0]?.element
  t.equal(e?.attr('c'), '\t\n', 'references to whitespace stay as they are')
  t.equal(e?.attr('b'), 'x y z w ', 'attr()')
  t.same(e?.attrs(), saxesValues, 'attrs()')
  t.equal(e && new TextDecoder().decode(e.bytes), xml, 'the bytes stay as they came')
  t.end()
})

t.test('attr() and namespace() with a non-ASCII attribute name', (t) => {
  const a = tokenize('message', GENEROUS, [utf8("<a é='1' b='2'/>")]).events[0]?.element
  t.same(a?.attrs(), { é: '1', b: '2' }, 'attrs() has it')
  t.equal(a?.attr('é'), '1', "attr('é')")
  t.equal(a?.attr('b'), '2', "attr('b') next to it")
  t.ok(a?.has('é'), "has('é')")
  t.equal(a?.attr('Ã©'), undefined, "attr('Ã©'): the UTF-8 bytes of 'é' read as Latin-1 are another name")
  const p = tokenize('message', GENEROUS, [utf8("<é:a xmlns:é='urn:x'/>")]).events[0]?.element
  t.equal(p?.namespace(), 'urn:x', 'namespace() of a non-ASCII prefix')
  t.end()
})

t.test('body mode: rootText is non-whitespace character data directly inside <body>', (t) => {
  const rootText = (xml: string): boolean => {
    const whole = tokenize('body', GENEROUS, [utf8(xml)])
    t.equal(whole.failed, false, `well-formed: ${xml}`)
    t.equal(tokenize('body', GENEROUS, byteByByte(utf8(xml))).rootText, whole.rootText, `byte by byte: ${xml}`)
    return whole.rootText
  }
  t.equal(rootText('<body>hello</body>'), true, 'text')
  t.equal(rootText('<body> <a>x</a> </body>'), false, 'whitespace, and text deeper down')
  t.equal(rootText('<body><![CDATA[hello]]></body>'), true, 'a CDATA section')
  t.equal(rootText('<body><![CDATA[]]]></body>'), true, "a CDATA section holding ']'")
  t.equal(rootText('<body><![CDATA[]] ]]></body>'), true, "a CDATA section holding ']] '")
  t.equal(rootText('<body><![CDATA[\u00e9]]></body>'), true, 'a CDATA section holding a non-ASCII character')
  t.equal(rootText('<body><![CDATA[ \n]]><![CDATA[]]></body>'), false, 'CDATA sections holding whitespace or nothing')
  t.equal(rootText('<body><a><![CDATA[x]]></a></body>'), false, 'CDATA deeper down')
  t.equal(rootText('<body>&#32;&#x9;&#10;&#xD;</body>'), false, 'whitespace written as references')
  t.equal(rootText('<body>&#x00020;</body>'), false, 'with leading zeros')
  t.equal(rootText('<body>&amp;</body>'), true, 'a reference to something else')
  t.equal(rootText('<body>&#65;</body>'), true, 'a character reference to a letter')
  t.end()
})

t.test("usesPrefixes: a name with ':' after an empty prefix, element or attribute alike", (t) => {
  t.equal(tokenize('message', GENEROUS, [utf8("<m :b='1'/>")]).events[0]?.element?.usesPrefixes, true, "an attribute name ':b'")
  t.equal(tokenize('message', GENEROUS, [utf8('<m><:a/></m>')]).events[0]?.element?.usesPrefixes, true, "an element name ':a'")
  t.equal(tokenize('message', GENEROUS, [utf8('<:m/>')]).events[0]?.element?.usesPrefixes, true, "the element's own name ':m'")
  t.equal(tokenize('stream', GENEROUS, [utf8('<s><:a/>')]).events[1]?.element?.usesPrefixes, true, "a stanza named ':a'")
  t.equal(tokenize('message', GENEROUS, [utf8('<m><a/></m>')]).events[0]?.element?.usesPrefixes, false, 'no prefix')
  t.end()
})

// Left open: namespace-well-formedness is not XML 1.0 well-formedness. Checking
// it means keeping every in-scope prefix declaration (a stack per element) and
// resolving every prefixed element and attribute name, work on the relay path
// for stanzas Causeway only passes through, which the XMPP server checks
// itself (RFC 6120 §11.3 puts the duty on the receiving entity, and it refuses
// them with its own stream error). What Causeway reads itself (stream features,
// errors, BOSH bodies) resolves namespaces where it uses them.
t.test('XML-NAMES (RFC 6120 §11.3): namespace-well-formedness', (t) => {
  for (const xml of ['<p:a/>', "<a xmlns:p=''/>", '<a:b:c/>', '<:a/>', "<a xmlns:p='u' xmlns:q='u' p:x='1' q:x='2'/>"]) {
    t.equal(saxesError(xml), undefined, `XML 1.0 well-formed: ${xml}`)
    t.ok(saxesError(xml, true), `not namespace-well-formed: ${xml}`)
    t.not(tokenizerVerdict('message', xml), 'accepted', `the tokenizer refuses ${xml}`, todo('namespace-well-formedness'))
  }
  t.end()
})
