/**
 * One pass over every byte: UTF-8, the restricted-XML profile of RFC 6120
 * §11, the limits, and the framing of top-level elements, together.
 *
 * The relay only passes most stanzas through, so it never builds them into
 * trees: a complete top-level element comes out as the exact bytes it
 * arrived as (a view of the input when it arrived in one read), with its
 * name and the attributes of its start tag readable on demand. What
 * Causeway must understand (stream features, stream errors) is made into
 * an ltx element from those bytes by `toElement`, off the relay path.
 *
 * Modes:
 * - `stream`: one long-lived root (`<stream:stream>`): `rootStart`, one
 *   `element` per child, `rootEnd`. Each child is a unit of the byte budget.
 * - `message`: one document whose root is the element (an RFC 7395 message).
 * - `body`: one document whose root's children are the elements (a BOSH
 *   `<body/>`); the whole document is the byte budget.
 *
 * Every rule is decided at the byte where it breaks, so the result does not
 * depend on how the input was split into reads. After the first error the
 * tokenizer is inert until `reset()`.
 */
import type { StreamFailure } from '../conditions.js'
import { streamFailure } from '../conditions.js'
import type { XmlLimits } from './limits.js'

export type FramingMode = 'stream' | 'message' | 'body'

/** What the tokenizer reports, in input order, synchronously from `write`/`end`. */
export interface XmlSink {
  /** stream, body: the root's start tag (the stream header, the `<body>` wrapper), as an element without content. */
  rootStart(root: XmlElement): void
  /** stream, body: one complete child of the root; message: the root itself. */
  element(element: XmlElement): void
  /** stream, body: the root's end tag. */
  rootEnd(): void
  error(failure: StreamFailure): void
}

// ignoreBOM: a U+FEFF inside a value is content, not a mark to strip.
const NO_BYTES = new Uint8Array(0)
// Only ever replaced, never written: a start tag's spans are copied out before they are made relative.
const NO_SPANS: number[] = []

const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true })

/**
 * A copy of `bytes[start, end)` that keeps nothing else alive. (A Node
 * Buffer's own `slice` is a view, which would pin the whole read it came from.)
 */
export function copyOf(bytes: Uint8Array, start = 0, end = bytes.length): Uint8Array {
  return Uint8Array.prototype.slice.call(bytes, start, end)
}

// XmlElement flags: what is rare enough that the tokenizer notes it on its rare branches only.
/** An attribute value of the start tag holds a literal TAB, CR or LF. */
const TAG_VALUE_WHITESPACE = 1
/** An attribute name of the start tag is not ASCII. */
const TAG_NON_ASCII_ATTRIBUTE_NAME = 2
/** An attribute value in the element (its start tag or a descendant's) holds a literal TAB, CR or LF. */
const INNER_VALUE_WHITESPACE = 4

const utf8Encoder = new TextEncoder()

/** A complete element as it arrived: its bytes, its name, its start tag's attributes. */
export class XmlElement {
  /** Qualified name as written (`message`, `stream:features`). */
  readonly name: string
  /** Offset just after the name in the start tag (where a declaration can be inserted). */
  readonly nameEnd: number
  /** A prefixed element or attribute name (other than `xml:`/`xmlns:`) occurs at or inside this element. */
  readonly usesPrefixes: boolean
  /** Start tag attributes as offsets into `bytes`: name start, name end, value start, value end. */
  readonly #spans: readonly number[]
  /** TAG_VALUE_WHITESPACE | TAG_NON_ASCII_ATTRIBUTE_NAME | INNER_VALUE_WHITESPACE. */
  readonly #flags: number

  constructor(
    /** Exactly the bytes received, from `<` to the final `>`. */
    readonly bytes: Uint8Array,
    name: string,
    nameEnd: number,
    spans: readonly number[],
    usesPrefixes: boolean,
    flags = 0,
  ) {
    this.name = name
    this.nameEnd = nameEnd
    this.#spans = spans
    this.usesPrefixes = usesPrefixes
    this.#flags = flags
  }

  /**
   * An attribute value somewhere in the element (its start tag or a
   * descendant's) holds a literal TAB, CR or LF, which reads as a space (XML
   * 1.0 §3.3.3): a reader of the bytes must normalise it.
   */
  get valueWhitespace(): boolean {
    return (this.#flags & (TAG_VALUE_WHITESPACE | INNER_VALUE_WHITESPACE)) !== 0
  }

  /** The name without its prefix. */
  get localName(): string {
    const colon = this.name.indexOf(':')
    return colon < 0 ? this.name : this.name.slice(colon + 1)
  }

  /** The prefix, or undefined. */
  get prefix(): string | undefined {
    const colon = this.name.indexOf(':')
    return colon < 0 ? undefined : this.name.slice(0, colon)
  }

  /** An attribute of the start tag, references expanded, whitespace normalised (XML 1.0 §3.3.3); undefined when absent. */
  attr(name: string): string | undefined {
    const i = this.#find(name)
    return i < 0 ? undefined : decodeValue(this.bytes, this.#spans[i + 2] as number, this.#spans[i + 3] as number, this.#flags & TAG_VALUE_WHITESPACE)
  }

  /** The start tag has this attribute, read without decoding anything. */
  has(name: string): boolean {
    return this.#find(name) >= 0
  }

  #find(name: string): number {
    // Compared as UTF-8 when the tag has a non-ASCII attribute name. Otherwise the
    // names are ASCII bytes, which a non-ASCII name never matches char for byte.
    if (this.#flags & TAG_NON_ASCII_ATTRIBUTE_NAME) return this.#findEncoded(utf8Encoder.encode(name))
    const spans = this.#spans
    const bytes = this.bytes
    outer: for (let i = 0; i < spans.length; i += 4) {
      const start = spans[i] as number
      const end = spans[i + 1] as number
      if (end - start !== name.length) continue
      for (let k = 0; k < name.length; k++) if (bytes[start + k] !== name.charCodeAt(k)) continue outer
      return i
    }
    return -1
  }

  #findEncoded(name: Uint8Array): number {
    const spans = this.#spans
    const bytes = this.bytes
    outer: for (let i = 0; i < spans.length; i += 4) {
      const start = spans[i] as number
      if ((spans[i + 1] as number) - start !== name.length) continue
      for (let k = 0; k < name.length; k++) if (bytes[start + k] !== name[k]) continue outer
      return i
    }
    return -1
  }

  /** Every attribute of the start tag, in document order. */
  attrs(): Record<string, string> {
    const out: Record<string, string> = {}
    const spans = this.#spans
    for (let i = 0; i < spans.length; i += 4) {
      out[decodeName(this.bytes, spans[i] as number, spans[i + 1] as number)] = decodeValue(this.bytes, spans[i + 2] as number, spans[i + 3] as number, this.#flags & TAG_VALUE_WHITESPACE)
    }
    return out
  }

  /**
   * The namespace of the element's own name, from its declarations or,
   * failing those, the declarations `inherited` from its parent (the stream
   * root's attributes).
   */
  namespace(inherited?: Readonly<Record<string, string | undefined>>): string | undefined {
    const prefix = this.prefix
    const declaration = prefix === undefined ? 'xmlns' : `xmlns:${prefix}`
    return this.attr(declaration) ?? inherited?.[declaration]
  }
}

/**
 * Names and short values repeat from stanza to stanza (`message`, `jabber:client`), so
 * short ASCII text is interned: a hit costs a hash and a compare, no new string.
 * Longer or non-ASCII text is decoded each time.
 */
const INTERN_SLOTS = 1024
const INTERN_MAX_BYTES = 48
const interned: (string | undefined)[] = new Array<string | undefined>(INTERN_SLOTS)

function decodeName(bytes: Uint8Array, start: number, end: number): string {
  const length = end - start
  if (length > INTERN_MAX_BYTES) return utf8Decoder.decode(bytes.subarray(start, end))
  let hash = length
  for (let i = start; i < end; i++) {
    const b = bytes[i] as number
    if (b >= 0x80) return utf8Decoder.decode(bytes.subarray(start, end))
    hash = (Math.imul(hash, 31) + b) | 0
  }
  const slot = (hash ^ (hash >>> 10)) & (INTERN_SLOTS - 1)
  const known = interned[slot]
  if (known !== undefined && known.length === length) {
    let same = true
    for (let k = 0; same && k < length; k++) same = known.charCodeAt(k) === bytes[start + k]
    if (same) return known
  }
  let text = ''
  for (let i = start; i < end; i++) text += String.fromCharCode(bytes[i] as number)
  interned[slot] = text
  return text
}

const PREDEFINED: ReadonlyMap<string, string> = new Map([
  ['amp', '&'],
  ['lt', '<'],
  ['gt', '>'],
  ['quot', '"'],
  ['apos', "'"],
])

/**
 * An attribute value as written (already validated) → its value (XML 1.0
 * §3.3.3): with `normalise` (the tag has a literal TAB, CR or LF in a value),
 * each of them (a CR LF pair as one, §2.11) becomes a space; then references
 * are expanded (a reference to whitespace stays what it stands for).
 */
function decodeValue(bytes: Uint8Array, start: number, end: number, normalise: number): string {
  let raw = decodeName(bytes, start, end)
  if (normalise !== 0) raw = raw.replace(/\r\n?|[\n\t]/g, ' ')
  if (raw.indexOf('&') < 0) return raw
  return raw.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (_, ref: string) => {
    if (ref.charCodeAt(0) !== 0x23) return PREDEFINED.get(ref) ?? ''
    return String.fromCodePoint(ref.charCodeAt(1) === 0x78 ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10))
  })
}

const S = {
  text: 0,
  lt: 1,
  bang: 2,
  cdataOpen: 3,
  cdata: 4,
  piName: 5,
  decl: 6,
  startName: 7,
  inTag: 8,
  attrName: 9,
  afterAttrName: 10,
  beforeValue: 11,
  attrValue: 12,
  selfClose: 13,
  endName: 14,
  afterEndName: 15,
  entity: 16,
  done: 17,
  failed: 18,
} as const
type State = (typeof S)[keyof typeof S]

const LT = 0x3c
const GT = 0x3e
const AMP = 0x26
const SLASH = 0x2f
const QUOTE = 0x22
const APOS = 0x27
const EQUALS = 0x3d
const COLON = 0x3a
const SEMICOLON = 0x3b
const BANG = 0x21
const QUESTION = 0x3f
const RBRACKET = 0x5d
const CDATA_OPEN = '[CDATA['
const XML = 'xml'
/** XML 1.0 §2.8 XMLDecl: its pseudo-attributes, in the only order allowed. */
const DECL_NAMES = ['version', 'encoding', 'standalone'] as const
/** Steps inside the XML declaration, after `<?xml` and a space. */
const D = { separator: 0, space: 1, name: 2, beforeEq: 3, afterEq: 4, value: 5, end: 6 } as const
/** Longest entity body accepted, leading zeros of a character reference not counted (`#x10FFFF` and the named ones fit). */
const MAX_ENTITY = 10

/** Per ASCII byte: 1 name start, 2 name char (not start), 0 neither. */
const NAME_CLASS = new Uint8Array(128)
for (let c = 0; c < 128; c++) {
  if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === COLON) NAME_CLASS[c] = 1
  else if ((c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e) NAME_CLASS[c] = 2
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d
}

/**
 * XML 1.0 (5th edition) §2.3 NameStartChar, for a code point at or above 0x80
 * (ASCII is NAME_CLASS). Only non-ASCII names come here; the common ranges first.
 */
function isNameStartCp(cp: number): boolean {
  if (cp < 0x300) return cp >= 0xc0 && cp !== 0xd7 && cp !== 0xf7
  if (cp < 0x2000) return cp >= 0x370 && cp !== 0x37e
  if (cp < 0x3001) return cp === 0x200c || cp === 0x200d || (cp >= 0x2070 && cp <= 0x218f) || (cp >= 0x2c00 && cp <= 0x2fef)
  if (cp < 0x10000) return cp <= 0xd7ff || (cp >= 0xf900 && cp <= 0xfdcf) || (cp >= 0xfdf0 && cp <= 0xfffd)
  return cp <= 0xeffff
}

/** XML 1.0 (5th edition) §2.3 NameChar at or above 0x80: NameStartChar, U+00B7, U+0300–U+036F, U+203F–U+2040. */
function isNameCharCp(cp: number): boolean {
  return isNameStartCp(cp) || cp === 0xb7 || (cp >= 0x300 && cp <= 0x36f) || cp === 0x203f || cp === 0x2040
}

/** XML 1.0 §2.2 Char for a decoded code point at or above 0x80 (UTF-8 validation already excludes surrogates). */
function isCharCp(cp: number): boolean {
  return cp !== 0xfffe && cp !== 0xffff
}

/**
 * The character a reference body (between '&' and ';') stands for, or -1 when
 * it is no predefined entity nor a character reference to an XML Char. Leading
 * zeros of a character reference are skipped (XML 1.0 §4.1 allows any number);
 * `#inEntity` has already bounded the digits after them.
 */
function referenceValue(bytes: Uint8Array, start: number, end: number): number {
  if (end === start) return -1
  if (bytes[start] !== 0x23 /* # */) {
    const text = PREDEFINED.get(decodeName(bytes, start, end))
    return text === undefined ? -1 : text.charCodeAt(0)
  }
  const hex = bytes[start + 1] === 0x78 /* x */
  let i = start + (hex ? 2 : 1)
  if (i === end) return -1
  while (i < end && bytes[i] === 0x30) i++
  let code = 0
  for (; i < end; i++) {
    const c = bytes[i] as number
    const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : !hex ? -1 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1
    if (digit < 0) return -1
    code = code * (hex ? 16 : 10) + digit
  }
  const char = code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff)
  return char ? code : -1
}

export class XmlTokenizer {
  readonly #mode: FramingMode
  readonly #limits: XmlLimits
  readonly #sink: XmlSink
  #state: State = S.text
  /** Bytes kept from earlier reads (an unfinished element or tag), from absolute offset #base. */
  #buf: Uint8Array | undefined
  #bufLen = 0
  #base = 0
  /** Absolute offset of the next byte to read. */
  #pos = 0
  /** Absolute offset from which input must be kept (Infinity: nothing). */
  #keep = Infinity
  /** The array being scanned, and the absolute offset of its index 0. */
  #work: Uint8Array = NO_BYTES
  #workBase = 0
  /** The array being scanned is the kept buffer: elements taken from it must be copied. */
  #workIsBuffer = false
  #depth = 0
  #rootSeen = false
  /** The root's name, to match its end tag (stream, body modes: its start tag is gone by then). */
  #rootName: string | undefined
  /** Open elements below the root: [absolute name start, name length] pairs. */
  #names: number[] = []
  /** Where the current byte budget started. */
  #unitStart = 0
  /** Where the document starts: 3 after a byte-order mark, else 0 (the XML declaration may only come there). */
  #docStart = 0
  // The current tag.
  #tagStart = 0
  #nameStart = 0
  #nameEnd = 0
  /** Attribute spans of the current tag (absolute): name start, name end, value start, value end. */
  #spans: number[] = []
  #sawSpace = false
  #quote = 0
  #attrNameStart = 0
  #prefixed = false
  // The current top-level element.
  #topStart = 0
  #topNameEnd = 0
  #topSpans: number[] = NO_SPANS
  #topPrefixed = false
  #topFlags = 0
  /** XmlElement flags of the tag that starts at #tagFlagsTag (set on rare branches only, so never reset on the common path). */
  #tagFlags = 0
  #tagFlagsTag = -1
  /** Where a literal TAB, CR or LF in an attribute value was last read (absolute; -1: none yet). */
  #valueSpaceAt = -1
  // References, CDATA, the declaration, `]]>` in text.
  #entityStart = 0
  /** Leading zeros of the character reference being read. */
  #entityZeros = 0
  #entityReturn: State = S.text
  #matched = 0
  #brackets = 0
  // The XML declaration.
  #declStep = 0
  /** The pseudo-attribute being read (index into DECL_NAMES), and the first one that may come next. */
  #declAttr = 0
  #declNext = 0
  /** Its one accepted value (lower case for the encoding). */
  #declValue = ''
  // UTF-8.
  #utfNeed = 0
  #utfCp = 0
  #utfLow = 0x80
  #utfHigh = 0xbf
  #cpStart = 0
  /** Body mode: character data other than whitespace directly inside the root (see #textAtRoot). */
  #rootText = false

  constructor(mode: FramingMode, limits: XmlLimits, sink: XmlSink) {
    this.#mode = mode
    this.#limits = limits
    this.#sink = sink
  }

  get failed(): boolean {
    return this.#state === S.failed
  }

  /** message, body: the root element has been closed. */
  get complete(): boolean {
    return this.#state === S.done
  }

  get started(): boolean {
    return this.#rootSeen
  }

  /** body: non-whitespace character data was found directly inside the root. */
  get rootText(): boolean {
    return this.#rootText
  }

  /** Start over (a new document, or RFC 6120 §4.3.3 a restarted stream). */
  reset(): void {
    this.#state = S.text
    this.#buf = undefined
    this.#bufLen = 0
    this.#base = 0
    this.#pos = 0
    this.#keep = Infinity
    this.#work = NO_BYTES
    this.#workBase = 0
    this.#depth = 0
    this.#rootSeen = false
    this.#rootName = undefined
    this.#names.length = 0
    this.#unitStart = 0
    this.#docStart = 0
    this.#spans.length = 0
    this.#topSpans = NO_SPANS
    this.#tagFlagsTag = -1
    this.#valueSpaceAt = -1
    this.#utfNeed = 0
    this.#rootText = false
  }

  /** Input the caller found broken before it could be bytes (a lone surrogate in a test's string): fail here. */
  interrupt(failure: StreamFailure): void {
    this.#fail(failure.condition, failure.text ?? failure.condition)
  }

  /** Read bytes; the sink hears everything they complete before this returns. */
  write(chunk: Uint8Array): void {
    if (this.#state === S.failed || chunk.length === 0) return
    let work: Uint8Array
    if (this.#bufLen > 0) {
      this.#append(chunk)
      work = (this.#buf as Uint8Array).subarray(0, this.#bufLen)
      this.#workBase = this.#base
      this.#workIsBuffer = true
    } else {
      work = chunk
      this.#workBase = this.#pos
      this.#base = this.#pos
      this.#workIsBuffer = false
    }
    this.#work = work
    this.#scan(this.#pos - this.#workBase, work.length)
    if (this.failed) {
      this.#bufLen = 0
      this.#work = NO_BYTES
      return
    }
    this.#retain(work === chunk)
    this.#work = NO_BYTES
  }

  /** message, body: the input is over; anything but exactly one complete document is an error. */
  end(): void {
    if (this.#state === S.failed) return
    if (this.#utfNeed > 0) {
      this.#fail('not-well-formed', 'truncated UTF-8 sequence')
      return
    }
    if (this.#mode !== 'stream' && this.#state !== S.done) {
      this.#fail('not-well-formed', this.#rootSeen ? 'incomplete element' : 'empty document')
    }
  }

  // ── buffers ───────────────────────────────────────────────────────────

  #append(chunk: Uint8Array): void {
    const needed = this.#bufLen + chunk.length
    let buf = this.#buf as Uint8Array
    if (buf.length < needed) {
      const grown = new Uint8Array(Math.max(needed, buf.length * 2))
      grown.set(buf.subarray(0, this.#bufLen))
      buf = this.#buf = grown
    }
    buf.set(chunk, this.#bufLen)
    this.#bufLen = needed
  }

  /** Keep what an unfinished element or tag still needs; drop the rest. */
  #retain(scannedInput: boolean): void {
    const end = this.#pos
    const keepFrom = Math.min(this.#keep, end)
    const length = end - keepFrom
    if (length === 0) {
      this.#bufLen = 0
      this.#base = end
      // An idle session keeps no buffer: most elements arrive whole, and a new one is cheap.
      this.#buf = undefined
      return
    }
    const from = keepFrom - this.#workBase
    if (scannedInput) {
      let buf = this.#buf
      if (!buf || buf.length < length) buf = this.#buf = new Uint8Array(Math.max(length, 1024))
      buf.set(this.#work.subarray(from, from + length))
    } else {
      ;(this.#buf as Uint8Array).copyWithin(0, from, from + length)
    }
    this.#bufLen = length
    this.#base = keepFrom
  }

  /** The bytes from absolute `start` to `end` as an element's own: a view of the input, or a copy of the kept buffer. */
  #slice(start: number, end: number): Uint8Array {
    const from = start - this.#workBase
    const to = end - this.#workBase
    return this.#workIsBuffer ? this.#work.slice(from, to) : this.#work.subarray(from, to)
  }

  // ── the scan ──────────────────────────────────────────────────────────

  #scan(from: number, to: number): void {
    const work = this.#work
    const base = this.#workBase
    let i = from
    while (i < to) {
      // The byte budget: nothing may be read past it.
      const budgetEnd = this.#unitStart + this.#limits.maxStanzaBytes - base
      const stop = budgetEnd < to ? budgetEnd : to
      if (i >= stop) {
        this.#pos = base + i
        this.#fail('policy-violation', `element exceeds ${this.#limits.maxStanzaBytes} bytes`)
        return
      }
      const state = this.#state
      // Fast paths for the runs that make up most of a stanza.
      if (state === S.text && this.#depth > (this.#mode === 'message' ? 0 : 1) && this.#utfNeed === 0) {
        const runStart = i
        while (i < stop) {
          const c = work[i] as number
          if (c === LT || c === AMP || c === RBRACKET || c === GT || c >= 0x80 || (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d)) break
          i++
        }
        if (i > runStart) this.#brackets = 0
        if (i >= stop) continue
      } else if (state === S.attrValue && this.#utfNeed === 0) {
        const valueStart = this.#spans[this.#spans.length - 1] as number
        const valueStop = Math.min(stop, valueStart + this.#limits.maxAttributeValueBytes - base)
        while (i < valueStop) {
          const c = work[i] as number
          if (c === this.#quote || c === LT || c === AMP || c >= 0x80 || c < 0x20) break
          i++
        }
        if (i >= stop) continue
      }
      const c = work[i] as number
      this.#pos = base + i
      if (c >= 0x80 || this.#utfNeed > 0) {
        const cp = this.#utf8(c)
        if (cp === -2) return
        if (cp >= 0) this.#stepCp(cp)
      } else {
        this.#step(c)
      }
      if (this.failed) return
      i++
    }
    this.#pos = base + i
  }

  /** One byte of a multibyte sequence: -1 while incomplete, the code point when complete, -2 after an error. */
  #utf8(b: number): number {
    if (this.#utfNeed === 0) {
      this.#cpStart = this.#pos
      this.#utfLow = 0x80
      this.#utfHigh = 0xbf
      if (b >= 0xc2 && b <= 0xdf) {
        this.#utfNeed = 1
        this.#utfCp = b & 0x1f
      } else if (b >= 0xe0 && b <= 0xef) {
        this.#utfNeed = 2
        this.#utfCp = b & 0x0f
        if (b === 0xe0) this.#utfLow = 0xa0
        else if (b === 0xed) this.#utfHigh = 0x9f // no surrogates
      } else if (b >= 0xf0 && b <= 0xf4) {
        this.#utfNeed = 3
        this.#utfCp = b & 0x07
        if (b === 0xf0) this.#utfLow = 0x90
        else if (b === 0xf4) this.#utfHigh = 0x8f // nothing above U+10FFFF
      } else {
        this.#fail('not-well-formed', 'invalid UTF-8')
        return -2
      }
      return -1
    }
    if (b < this.#utfLow || b > this.#utfHigh) {
      this.#fail('not-well-formed', 'invalid UTF-8')
      return -2
    }
    this.#utfLow = 0x80
    this.#utfHigh = 0xbf
    this.#utfCp = (this.#utfCp << 6) | (b & 0x3f)
    this.#utfNeed -= 1
    if (this.#utfNeed > 0) return -1
    const cp = this.#utfCp
    if (!isCharCp(cp)) {
      this.#fail('not-well-formed', 'character not allowed in XML')
      return -2
    }
    return cp
  }

  /** A complete non-ASCII code point (its first byte is at #cpStart). */
  #stepCp(cp: number): void {
    switch (this.#state) {
      case S.text:
        // XML 1.0 §4.3.3: a byte-order mark may start the entity; it is not content.
        if (cp === 0xfeff && this.#cpStart === 0) {
          this.#docStart = 3
          return
        }
        this.#brackets = 0
        if (this.#depth === 0) this.#fail('not-well-formed', 'text outside the root element')
        else this.#textAtRoot()
        return
      case S.lt:
        if (!isNameStartCp(cp)) {
          this.#fail('not-well-formed', 'invalid character after <')
          return
        }
        this.#startTag(this.#cpStart)
        return
      case S.startName:
        if (!isNameCharCp(cp)) {
          this.#fail('not-well-formed', 'invalid character in element name')
          return
        }
        this.#checkNameBytes(this.#nameStart)
        return
      case S.endName:
        if (this.#cpStart === this.#nameStart ? !isNameStartCp(cp) : !isNameCharCp(cp)) {
          this.#fail('not-well-formed', 'malformed end tag')
          return
        }
        this.#checkNameBytes(this.#nameStart)
        return
      case S.attrName:
        if (!isNameCharCp(cp)) {
          this.#fail('not-well-formed', 'malformed attribute')
          return
        }
        this.#flagTag(TAG_NON_ASCII_ATTRIBUTE_NAME)
        this.#checkNameBytes(this.#attrNameStart)
        return
      case S.inTag:
        if (!isNameStartCp(cp) || !this.#sawSpace) {
          this.#fail('not-well-formed', 'malformed start tag')
          return
        }
        this.#startAttribute(this.#cpStart)
        this.#flagTag(TAG_NON_ASCII_ATTRIBUTE_NAME)
        this.#checkNameBytes(this.#attrNameStart)
        return
      case S.attrValue:
        this.#checkValueBytes()
        return
      case S.cdata:
        this.#brackets = 0
        this.#textAtRoot()
        return
      case S.decl:
        this.#fail('not-well-formed', 'malformed XML declaration')
        return
      case S.bang:
        this.#fail('restricted-xml', 'DTDs are not allowed')
        return
      case S.piName:
        this.#fail('restricted-xml', 'processing instructions are not allowed')
        return
      case S.entity:
        this.#fail('not-well-formed', 'unknown entity or stray &')
        return
      case S.done:
        this.#fail('not-well-formed', 'text outside the root element')
        return
      default:
        this.#fail('not-well-formed', this.#asciiOnlyError())
    }
  }

  #asciiOnlyError(): string {
    switch (this.#state) {
      case S.cdataOpen:
        return 'malformed CDATA section'
      case S.afterAttrName:
        return 'attribute without a value'
      case S.beforeValue:
        return 'attribute value must be quoted'
      case S.selfClose:
        return "expected '>' after '/'"
      case S.afterEndName:
        return 'malformed end tag'
      default:
        return 'not well-formed'
    }
  }

  /** One ASCII byte. */
  #step(c: number): void {
    if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) {
      this.#fail('not-well-formed', 'character not allowed in XML')
      return
    }
    switch (this.#state) {
      case S.text:
      case S.done:
        this.#text(c)
        return
      case S.lt:
        this.#afterLt(c)
        return
      case S.bang:
        if (c === 0x5b /* [ */ && this.#depth > 0) {
          this.#matched = 1
          this.#state = S.cdataOpen
          return
        }
        // Comments, DOCTYPE, ENTITY and the rest: RFC 6120 §11.1.
        this.#fail('restricted-xml', c === 0x2d ? 'comments are not allowed' : 'DTDs are not allowed')
        return
      case S.cdataOpen:
        if (c !== CDATA_OPEN.charCodeAt(this.#matched)) {
          this.#fail('not-well-formed', 'malformed CDATA section')
          return
        }
        this.#matched += 1
        if (this.#matched === CDATA_OPEN.length) {
          this.#brackets = 0
          this.#state = S.cdata
        }
        return
      case S.cdata:
        if (c === RBRACKET) this.#brackets += 1
        else if (c === GT && this.#brackets >= 2) {
          // Brackets before the closing `]]>` are content.
          if (this.#brackets > 2) this.#textAtRoot()
          this.#brackets = 0
          this.#state = S.text
          this.#tokenDone()
        } else {
          if (this.#brackets > 0 || !isSpace(c)) this.#textAtRoot()
          this.#brackets = 0
        }
        return
      case S.piName:
        // Only `<?xml …?>` at the very start is tolerated (RFC 6120 §11.5).
        if (this.#matched < XML.length) {
          if (c !== XML.charCodeAt(this.#matched)) {
            this.#fail('restricted-xml', 'processing instructions are not allowed')
            return
          }
          this.#matched += 1
          return
        }
        if (!isSpace(c)) {
          this.#fail('restricted-xml', 'processing instructions are not allowed')
          return
        }
        this.#declStep = D.space
        this.#declNext = 0
        this.#state = S.decl
        return
      case S.decl:
        this.#inDecl(c)
        return
      case S.startName:
        this.#inStartName(c)
        return
      case S.inTag:
        this.#inTag(c)
        return
      case S.attrName:
        if (c < 0x80 && NAME_CLASS[c] !== 0) {
          if (c === COLON) this.#notePrefix(this.#attrNameStart, this.#pos)
          this.#checkNameBytes(this.#attrNameStart)
          return
        }
        if (isSpace(c)) {
          this.#spans.push(this.#pos)
          this.#state = S.afterAttrName
          return
        }
        if (c === EQUALS) {
          this.#spans.push(this.#pos)
          this.#attributeEquals()
          return
        }
        this.#fail('not-well-formed', 'malformed attribute')
        return
      case S.afterAttrName:
        if (isSpace(c)) return
        if (c === EQUALS) {
          this.#attributeEquals()
          return
        }
        this.#fail('not-well-formed', 'attribute without a value')
        return
      case S.beforeValue:
        if (isSpace(c)) return
        if (c === QUOTE || c === APOS) {
          this.#quote = c
          this.#spans.push(this.#pos + 1)
          this.#state = S.attrValue
          return
        }
        this.#fail('not-well-formed', 'attribute value must be quoted')
        return
      case S.attrValue:
        if (c === this.#quote) {
          this.#spans.push(this.#pos)
          this.#sawSpace = false
          this.#state = S.inTag
          return
        }
        if (!this.#checkValueBytes()) return
        if (c === LT) {
          this.#fail('not-well-formed', "'<' in attribute value")
          return
        }
        if (c === AMP) {
          this.#entityStart = this.#pos + 1
          this.#entityZeros = 0
          this.#entityReturn = S.attrValue
          this.#state = S.entity
          return
        }
        // A literal TAB, CR or LF (the fast path stops at them): attr() reads it as a space.
        if (c < 0x20) {
          this.#flagTag(TAG_VALUE_WHITESPACE)
          this.#valueSpaceAt = this.#pos
        }
        return
      case S.entity:
        this.#inEntity(c)
        return
      case S.selfClose:
        if (c !== GT) {
          this.#fail('not-well-formed', "expected '>' after '/'")
          return
        }
        this.#openElement()
        if (!this.failed) this.#closeElement()
        return
      case S.endName:
        if (c < 0x80 && NAME_CLASS[c] !== 0 && (this.#pos > this.#nameStart || NAME_CLASS[c] === 1)) {
          this.#checkNameBytes(this.#nameStart)
          return
        }
        if (this.#pos > this.#nameStart && isSpace(c)) {
          this.#nameEnd = this.#pos
          this.#state = S.afterEndName
          return
        }
        if (this.#pos > this.#nameStart && c === GT) {
          this.#nameEnd = this.#pos
          this.#matchEndTag()
          return
        }
        this.#fail('not-well-formed', 'malformed end tag')
        return
      case S.afterEndName:
        if (isSpace(c)) return
        if (c === GT) {
          this.#matchEndTag()
          return
        }
        this.#fail('not-well-formed', 'malformed end tag')
        return
      case S.failed:
        return
    }
  }

  #text(c: number): void {
    if (c === LT) {
      this.#brackets = 0
      this.#tagStart = this.#pos
      // Whatever this starts, its bytes are needed until it is complete.
      if (this.#keep === Infinity) this.#keep = this.#pos
      this.#state = S.lt
      return
    }
    if (c === AMP) {
      if (this.#depth === 0) {
        this.#fail('not-well-formed', 'text outside the root element')
        return
      }
      this.#brackets = 0
      if (this.#keep === Infinity) this.#keep = this.#pos
      this.#entityStart = this.#pos + 1
      this.#entityZeros = 0
      this.#entityReturn = S.text
      this.#state = S.entity
      return
    }
    if (isSpace(c)) {
      this.#brackets = 0
      return
    }
    if (this.#depth === 0) {
      this.#fail('not-well-formed', 'text outside the root element')
      return
    }
    if (this.#state === S.done) {
      this.#fail('not-well-formed', 'text outside the root element')
      return
    }
    this.#textAtRoot()
    // XML 1.0 §2.4: `]]>` may not appear in character data.
    if (c === RBRACKET) {
      this.#brackets += 1
      return
    }
    if (c === GT && this.#brackets >= 2) {
      this.#fail('not-well-formed', "']]>' in character data")
      return
    }
    this.#brackets = 0
  }

  /** A token outside any element the sink gets whole has ended: its bytes are no longer needed. */
  #tokenDone(): void {
    if (this.#depth <= (this.#mode === 'message' ? 0 : 1)) this.#keep = Infinity
  }

  /**
   * Body mode: character data directly inside <body> that is not whitespace.
   * XEP-0124 §6 says the wrapper "MUST NOT contain any XML character data";
   * readBody (src/core/bosh/body.ts) refuses it but lets whitespace through
   * (pretty-printed bodies; test/unit/bosh/body.test.ts "whitespace is not
   * character data"). What counts is the character data itself, however it
   * is written: literal text, a reference or a CDATA section. So `&#32;` is
   * whitespace like a literal space (allowed), `&amp;` is not, and
   * `<![CDATA[hello]]>` is text while `<![CDATA[ ]]>` is not: the same
   * character data, the same answer, as a conforming parser reports it.
   */
  #textAtRoot(): void {
    if (this.#depth === 1 && this.#mode === 'body') this.#rootText = true
  }

  #afterLt(c: number): void {
    if (c === SLASH) {
      if (this.#depth === 0) {
        this.#fail('not-well-formed', 'end tag without a start tag')
        return
      }
      this.#nameStart = this.#pos + 1
      this.#state = S.endName
      return
    }
    if (c === BANG) {
      this.#state = S.bang
      return
    }
    if (c === QUESTION) {
      // XML 1.0 §2.8: only the XML declaration, and only at the very start (a byte-order mark aside; not even whitespace before it).
      if (this.#tagStart !== this.#docStart) {
        this.#fail('restricted-xml', 'processing instructions are not allowed')
        return
      }
      this.#matched = 0
      this.#state = S.piName
      return
    }
    if (NAME_CLASS[c] !== 1) {
      this.#fail('not-well-formed', 'invalid character after <')
      return
    }
    this.#startTag(this.#pos)
    // After #startTag, which starts the tag's flags afresh: a leading ':' is an empty prefix.
    if (c === COLON) this.#notePrefix(this.#pos, this.#pos)
  }

  /**
   * XML 1.0 §2.8: XMLDecl ::= '<?xml' VersionInfo EncodingDecl? SDDecl? S? '?>',
   * read byte by byte. The version must be 1.0 (RFC 6120 §11: XML 1.0; a
   * 1.1 document follows other character rules), the encoding, if named,
   * UTF-8 (RFC 6120 §11.6; names compare case-insensitively, XML 1.0 §4.3.3),
   * standalone yes or no.
   */
  #inDecl(c: number): void {
    switch (this.#declStep) {
      case D.separator:
      case D.space:
        if (isSpace(c)) {
          this.#declStep = D.space
          return
        }
        if (c === QUESTION && this.#declNext > 0) {
          this.#declStep = D.end
          return
        }
        if (this.#declStep === D.space) {
          // The version first (required), then encoding, then standalone, each at most once.
          for (let k = this.#declNext; k < DECL_NAMES.length; k++) {
            if (c === (DECL_NAMES[k] as string).charCodeAt(0)) {
              this.#declAttr = k
              this.#declNext = k + 1
              this.#matched = 1
              this.#declStep = D.name
              return
            }
            if (k === 0) break
          }
        }
        break
      case D.name: {
        const name = DECL_NAMES[this.#declAttr] as string
        if (this.#matched < name.length) {
          if (c !== name.charCodeAt(this.#matched)) break
          this.#matched += 1
          return
        }
        if (isSpace(c)) {
          this.#declStep = D.beforeEq
          return
        }
        if (c === EQUALS) {
          this.#declStep = D.afterEq
          return
        }
        break
      }
      case D.beforeEq:
        if (isSpace(c)) return
        if (c !== EQUALS) break
        this.#declStep = D.afterEq
        return
      case D.afterEq:
        if (isSpace(c)) return
        if (c !== QUOTE && c !== APOS) break
        this.#quote = c
        this.#matched = 0
        this.#declValue = this.#declAttr === 0 ? '1.0' : this.#declAttr === 1 ? 'utf-8' : 'yes'
        this.#declStep = D.value
        return
      case D.value: {
        if (this.#declAttr === 2 && this.#matched === 0 && c === 0x6e /* n */) this.#declValue = 'no'
        const value = this.#declValue
        if (c === this.#quote && this.#matched === value.length) {
          this.#declStep = D.separator
          return
        }
        const lower = this.#declAttr === 1 && c >= 0x41 && c <= 0x5a ? c + 0x20 : c
        if (this.#matched < value.length && lower === value.charCodeAt(this.#matched)) {
          this.#matched += 1
          return
        }
        if (this.#declAttr === 1) {
          this.#fail('unsupported-encoding', 'only UTF-8 is supported')
          return
        }
        this.#fail('not-well-formed', this.#declAttr === 0 ? 'XML declaration: version must be 1.0' : 'XML declaration: standalone must be yes or no')
        return
      }
      case D.end:
        if (c !== GT) break
        this.#state = S.text
        this.#tokenDone()
        return
    }
    this.#fail('not-well-formed', 'malformed XML declaration')
  }

  /** Note a rare property of the current start tag for its XmlElement. */
  #flagTag(flag: number): void {
    if (this.#tagFlagsTag !== this.#tagStart) {
      this.#tagFlagsTag = this.#tagStart
      this.#tagFlags = 0
    }
    this.#tagFlags |= flag
  }

  #currentTagFlags(): number {
    return this.#tagFlagsTag === this.#tagStart ? this.#tagFlags : 0
  }

  #startTag(nameStart: number): void {
    if (this.#rootSeen && this.#depth === 0) {
      this.#fail('not-well-formed', 'more than one root element')
      return
    }
    if (this.#depth + 1 > this.#limits.maxDepth) {
      this.#fail('policy-violation', `elements nested deeper than ${this.#limits.maxDepth}`)
      return
    }
    this.#nameStart = nameStart
    this.#spans.length = 0
    this.#sawSpace = false
    this.#prefixed = false
    if (this.#isTopLevel()) {
      this.#topStart = this.#tagStart
      this.#topPrefixed = false
      this.#keep = this.#tagStart
    } else if (this.#depth === 0) {
      // The root's start tag (stream header, <body>): kept until it is complete.
      this.#keep = this.#tagStart
    }
    this.#state = S.startName
    this.#checkNameBytes(nameStart)
  }

  /** The element being opened is a unit the sink gets whole. */
  #isTopLevel(): boolean {
    return this.#mode === 'message' ? this.#depth === 0 : this.#depth === 1
  }

  #inStartName(c: number): void {
    if (c < 0x80 && NAME_CLASS[c] !== 0) {
      if (c === COLON) this.#notePrefix(this.#nameStart, this.#pos)
      this.#checkNameBytes(this.#nameStart)
      return
    }
    this.#nameEnd = this.#pos
    if (isSpace(c)) {
      this.#sawSpace = true
      this.#state = S.inTag
      return
    }
    if (c === GT) {
      this.#openElement()
      return
    }
    if (c === SLASH) {
      this.#state = S.selfClose
      return
    }
    this.#fail('not-well-formed', 'invalid character in element name')
  }

  #inTag(c: number): void {
    if (isSpace(c)) {
      this.#sawSpace = true
      return
    }
    if (c === GT) {
      this.#openElement()
      return
    }
    if (c === SLASH) {
      this.#state = S.selfClose
      return
    }
    if (c < 0x80 && NAME_CLASS[c] === 1 && this.#sawSpace) {
      this.#startAttribute(this.#pos)
      if (c === COLON) this.#notePrefix(this.#pos, this.#pos)
      this.#checkNameBytes(this.#attrNameStart)
      return
    }
    this.#fail('not-well-formed', 'malformed start tag')
  }

  #startAttribute(start: number): void {
    if (this.#spans.length / 4 + 1 > this.#limits.maxAttributes) {
      this.#fail('policy-violation', `more than ${this.#limits.maxAttributes} attributes`)
      return
    }
    this.#attrNameStart = start
    this.#spans.push(start)
    this.#state = S.attrName
  }

  /** A ':' in a name: a prefix is in use unless it is `xml` or `xmlns` (declarations, xml:lang). */
  #notePrefix(nameStart: number, colon: number): void {
    const length = colon - nameStart
    const work = this.#work
    const at = nameStart - this.#workBase
    if (length === 3 && work[at] === 0x78 && work[at + 1] === 0x6d && work[at + 2] === 0x6c) return
    if (length === 5 && work[at] === 0x78 && work[at + 1] === 0x6d && work[at + 2] === 0x6c && work[at + 3] === 0x6e && work[at + 4] === 0x73) return
    this.#prefixed = true
  }

  #checkNameBytes(start: number): void {
    if (this.#pos + 1 - start > this.#limits.maxNameBytes) {
      this.#fail('policy-violation', `name longer than ${this.#limits.maxNameBytes} bytes`)
    }
  }

  /** The value so far (this byte included) is within its limit. */
  #checkValueBytes(): boolean {
    const valueStart = this.#spans[this.#spans.length - 1] as number
    if (this.#pos + 1 - valueStart > this.#limits.maxAttributeValueBytes) {
      this.#fail('policy-violation', `attribute value longer than ${this.#limits.maxAttributeValueBytes} bytes`)
      return false
    }
    return true
  }

  #attributeEquals(): void {
    const spans = this.#spans
    const n = spans.length
    const start = spans[n - 2] as number
    const end = spans[n - 1] as number
    const work = this.#work
    const base = this.#workBase
    // XML 1.0 WFC: Unique Att Spec.
    outer: for (let i = 0; i < n - 2; i += 4) {
      const otherStart = spans[i] as number
      if ((spans[i + 1] as number) - otherStart !== end - start) continue
      for (let k = 0; k < end - start; k++) if (work[otherStart - base + k] !== work[start - base + k]) continue outer
      this.#fail('not-well-formed', 'duplicate attribute')
      return
    }
    if (end - start === 9 && decodeName(work, start - base, end - base) === '__proto__') {
      // ltx keeps attributes in a plain object, where this name would vanish silently.
      this.#fail('policy-violation', 'attribute name __proto__ is not supported')
      return
    }
    this.#state = S.beforeValue
  }

  #inEntity(c: number): void {
    const work = this.#work
    const start = this.#entityStart - this.#workBase
    if (c === SEMICOLON) {
      // The ';' is a byte of the value as written, like every other.
      if (this.#entityReturn === S.attrValue && !this.#checkValueBytes()) return
      const value = referenceValue(work, start, this.#pos - this.#workBase)
      if (value < 0) {
        // Undeclared entities are a well-formedness error (XML 1.0 WFC: Entity Declared).
        this.#fail('not-well-formed', 'unknown entity or invalid character reference')
        return
      }
      this.#state = this.#entityReturn
      if (this.#state === S.text) {
        // A reference directly inside <body> is character data by what it stands for: see #textAtRoot.
        if (!isSpace(value)) this.#textAtRoot()
        this.#tokenDone()
      }
      return
    }
    // XML 1.0 §4.1: a character reference may have any number of leading zeros.
    // They are skipped without limit (the byte budget and the value limit still
    // count them); what follows them is bounded.
    const length = this.#pos - this.#entityStart - this.#entityZeros
    if (c === 0x30 && work[start] === 0x23 /* # */ && (length === 1 || (length === 2 && work[start + 1] === 0x78) /* x */)) {
      this.#entityZeros += 1
    } else if (length >= MAX_ENTITY) {
      this.#fail('not-well-formed', 'unknown entity or stray &')
      return
    }
    if (this.#entityReturn === S.attrValue) this.#checkValueBytes()
  }

  // ── elements ──────────────────────────────────────────────────────────

  #openElement(): void {
    const topLevel = this.#isTopLevel()
    const depth = (this.#depth += 1)
    this.#sawSpace = false
    this.#state = S.text
    this.#brackets = 0
    if (this.#prefixed) this.#topPrefixed = true
    if (depth === 1) {
      this.#rootSeen = true
      if (this.#mode !== 'message') {
        // The root's start tag is all the sink gets of it.
        const end = this.#pos + 1
        const bytes = this.#sliceCopy(this.#tagStart, end)
        const root = new XmlElement(bytes, this.#nameString(), this.#nameEnd - this.#tagStart, this.#relativeSpans(this.#tagStart), this.#prefixed, this.#currentTagFlags())
        // The name as a string (interned, shared by every stream), not a view that would pin the header's bytes.
        this.#rootName = root.name
        this.#keep = Infinity
        // The stream header is its own unit; the first stanza starts afresh (a body is one unit).
        if (this.#mode === 'stream') this.#unitStart = end
        this.#sink.rootStart(root)
        return
      }
    }
    if (topLevel) {
      this.#topNameEnd = this.#nameEnd
      this.#topSpans = this.#spans.slice()
      this.#topFlags = this.#currentTagFlags()
    }
    this.#names.push(this.#nameStart, this.#nameEnd - this.#nameStart)
  }

  #matchEndTag(): void {
    const length = this.#nameEnd - this.#nameStart
    const work = this.#work
    const base = this.#workBase
    if (this.#depth === 1 && this.#mode !== 'message') {
      // Once per document: a string comparison is fine here.
      if (this.#nameString() !== this.#rootName) {
        this.#fail('not-well-formed', 'end tag does not match start tag')
        return
      }
      this.#closeRoot()
      return
    }
    const names = this.#names
    const openStart = names[names.length - 2] as number
    const openLength = names[names.length - 1] as number
    let same = openLength === length
    for (let k = 0; same && k < length; k++) same = work[openStart - base + k] === work[this.#nameStart - base + k]
    if (!same) {
      this.#fail('not-well-formed', 'end tag does not match start tag')
      return
    }
    this.#closeElement()
  }

  #closeElement(): void {
    if (this.#depth === 1 && this.#mode !== 'message') {
      // A self-closed root (`<body/>`, `<stream:stream/>`).
      this.#closeRoot()
      return
    }
    this.#names.length -= 2
    this.#depth -= 1
    this.#state = this.#depth === 0 ? S.done : S.text
    if (!this.#isTopLevel()) return
    const end = this.#pos + 1
    const start = this.#topStart
    const bytes = this.#slice(start, end)
    const element = new XmlElement(bytes, this.#nameAt(start + 1, this.#topNameEnd), this.#topNameEnd - start, this.#relativeTopSpans(start), this.#topPrefixed, this.#valueSpaceAt > start ? this.#topFlags | INNER_VALUE_WHITESPACE : this.#topFlags)
    this.#keep = Infinity
    // A stanza just ended: the next one starts a fresh byte budget.
    if (this.#mode === 'stream') this.#unitStart = end
    this.#sink.element(element)
  }

  #closeRoot(): void {
    this.#depth = 0
    this.#state = S.done
    this.#keep = Infinity
    if (this.#mode === 'stream') this.#unitStart = this.#pos + 1
    this.#sink.rootEnd()
  }

  #nameString(): string {
    return this.#nameAt(this.#nameStart, this.#nameEnd)
  }

  #nameAt(start: number, end: number): string {
    return decodeName(this.#work, start - this.#workBase, end - this.#workBase)
  }

  #relativeSpans(origin: number): number[] {
    const spans = this.#spans
    const out = new Array<number>(spans.length)
    for (let i = 0; i < spans.length; i++) out[i] = (spans[i] as number) - origin
    return out
  }

  #relativeTopSpans(origin: number): number[] {
    const spans = this.#topSpans
    for (let i = 0; i < spans.length; i++) spans[i] = (spans[i] as number) - origin
    return spans
  }

  #sliceCopy(start: number, end: number): Uint8Array {
    return copyOf(this.#work, start - this.#workBase, end - this.#workBase)
  }

  #fail(condition: StreamFailure['condition'], text: string): void {
    if (this.#state === S.failed) return
    this.#state = S.failed
    this.#keep = Infinity
    this.#sink.error(streamFailure(condition, text))
  }
}
