/**
 * A lexical gatekeeper that runs ahead of ltx.
 *
 * ltx is a forgiving tokenizer: it silently drops comments, processing
 * instructions and DOCTYPE, accepts `<a b>` and `a & b`, and buffers an
 * unterminated attribute without limit. RFC 6120 §11.1 wants the
 * restricted-XML profile enforced, and every buffer needs a cap, so this
 * scanner walks each character once, keeps only a few counters, and stops
 * the stream at the first byte that breaks a rule. Only text it accepted is
 * ever handed to ltx.
 */
import type { StreamFailure } from '../conditions.js'
import { streamFailure } from '../conditions.js'

export interface XmlLimits {
  /** Bytes one top-level element (stanza) may span, whitespace before it included. */
  readonly maxStanzaBytes: number
  /** Element nesting depth, the stream root counting as 1. */
  readonly maxDepth: number
  /** Attributes on one element. */
  readonly maxAttributes: number
  /** Bytes in one attribute value (as written, before entity expansion). */
  readonly maxAttributeValueBytes: number
  /** Bytes in an element or attribute name. */
  readonly maxNameBytes: number
}

/**
 * Names are not configurable: no XMPP element or attribute name comes close,
 * and the bound keeps a hostile name from growing a parser buffer.
 */
export const MAX_NAME_BYTES = 256

/**
 * `stream`: one long-lived root (`<stream:stream>`) whose children are the
 * units of the byte budget. `document`: exactly one element, which is the unit.
 */
export type ScanMode = 'stream' | 'document'

/** What the scanner noticed in a chunk, for the reader's bookkeeping. */
export interface ScanResult {
  /** The accepted part of the chunk, in the form ltx should read it. */
  readonly output: string
  /**
   * How much of `output` ends at the last tag this chunk completed (0: none).
   * ltx scans an unfinished text run or attribute value again on every
   * character, so the reader hands it only whole-tag prefixes.
   */
  readonly committed: number
  /** Set when the chunk broke a rule; `output` then holds what came before. */
  readonly failure?: StreamFailure
}

const State = {
  prolog: 0, // before anything: an XML declaration may appear
  text: 1,
  lt: 2, // just read '<'
  bang: 3, // read '<!'
  cdataOpen: 4, // matching '[CDATA['
  cdata: 5,
  declaration: 6, // inside '<?xml ... ?>'
  startName: 7,
  inTag: 8,
  attrName: 9,
  afterAttrName: 10,
  beforeValue: 11,
  attrValue: 12,
  selfClose: 13, // read '/' inside a start tag
  endName: 14,
  afterEndName: 15,
  entity: 16,
  done: 17, // document complete: only whitespace may follow
  failed: 18,
} as const
type State = (typeof State)[keyof typeof State]

const CDATA_OPEN = '[CDATA['

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d
}

function isNameStart(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    c === 0x5f || // _
    c === 0x3a || // :
    (c >= 0xc0 && c !== 0xd7 && c !== 0xf7 && c !== 0xfffe && c !== 0xffff)
  )
}

function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0xb7
}

/** XML 1.0 §2.2 Char, on UTF-16 code units (surrogates pass; the UTF-8 decoder already rejected broken pairs). */
function isXmlChar(c: number): boolean {
  if (c < 0x20) return c === 0x09 || c === 0x0a || c === 0x0d
  return c !== 0xfffe && c !== 0xffff
}

/** UTF-8 length of one UTF-16 code unit; a surrogate pair counts 2 + 2 = 4. */
function utf8Bytes(c: number): number {
  if (c < 0x80) return 1
  if (c < 0x800) return 2
  if (c >= 0xd800 && c <= 0xdfff) return 2
  return 3
}

function escapeCdataChar(c: number): string {
  if (c === 0x3c) return '&lt;'
  if (c === 0x3e) return '&gt;'
  if (c === 0x26) return '&amp;'
  return String.fromCharCode(c)
}

function validEntity(body: string): boolean {
  switch (body) {
    case 'amp':
    case 'lt':
    case 'gt':
    case 'quot':
    case 'apos':
      return true
  }
  let code: number
  if (/^#x[0-9a-fA-F]{1,6}$/.test(body)) code = parseInt(body.slice(2), 16)
  else if (/^#[0-9]{1,7}$/.test(body)) code = parseInt(body.slice(1), 10)
  else return false
  return (
    code === 0x9 ||
    code === 0xa ||
    code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    (code >= 0x10000 && code <= 0x10ffff)
  )
}

export class RestrictedScanner {
  #state: State = State.prolog
  #depth = 0
  /** Names of open elements, for matching end tags; never deeper than maxDepth. */
  #open: string[] = []
  /** Bytes spent on the current budget unit. */
  #unitBytes = 0
  #name = ''
  #nameBytes = 0
  #attrNames = new Set<string>()
  #attrName = ''
  #attrNameBytes = 0
  /** The previous code unit was a high surrogate (possibly at the end of the last chunk). */
  #expectLowSurrogate = false
  #quote = 0
  #valueBytes = 0
  #entity = ''
  #entityReturn: State = State.text
  #cdataMatched = 0
  #cdataBrackets = 0
  #sawSpace = false
  #declPrev = 0
  #rootSeen = false
  /** Whether the '<' being handled is the first markup of the document. */
  #ltAtStart = false

  constructor(
    private readonly mode: ScanMode,
    private readonly limits: XmlLimits,
  ) {}

  /** Current nesting depth (stream root = 1). */
  get depth(): number {
    return this.#depth
  }

  /** True once the root element has been closed. */
  get complete(): boolean {
    return this.#state === State.done
  }

  /** True once a document-mode scanner has seen its root start. */
  get started(): boolean {
    return this.#rootSeen
  }

  /**
   * Check a chunk. `output` is what ltx may see: the accepted text with the
   * XML declaration dropped and CDATA sections rewritten as escaped text
   * (ltx loses text after a CDATA section and cannot end a declaration split
   * across writes).
   */
  scan(chunk: string): ScanResult {
    const out: string[] = []
    let pushed = 0
    let committed = 0
    let segmentStart = 0
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i)
      this.#unitBytes += utf8Bytes(c)
      let failure: StreamFailure | undefined
      if (this.#unitBytes > this.limits.maxStanzaBytes) {
        failure = this.#error('policy-violation', `element exceeds ${this.limits.maxStanzaBytes} bytes`)
      } else if (!isXmlChar(c)) {
        failure = this.#error('not-well-formed', 'character not allowed in XML')
      } else if ((c >= 0xdc00 && c <= 0xdfff) !== this.#expectLowSurrogate) {
        // Text handed over as a string may hold lone surrogates that UTF-8 bytes never could.
        failure = this.#error('not-well-formed', 'unpaired surrogate')
      } else {
        this.#expectLowSurrogate = c >= 0xd800 && c <= 0xdbff
        this.#replacement = undefined
        failure = this.#step(c)
      }
      if (failure) {
        out.push(chunk.slice(segmentStart, i))
        return { output: out.join(''), committed, failure }
      }
      if (this.#replacement !== undefined) {
        if (segmentStart < i) {
          out.push(chunk.slice(segmentStart, i))
          pushed += i - segmentStart
        }
        if (this.#replacement !== '') {
          out.push(this.#replacement)
          pushed += this.#replacement.length
        }
        segmentStart = i + 1
      }
      if (this.#tagEnded) {
        this.#tagEnded = false
        committed = pushed + (i + 1 - segmentStart)
      }
    }
    if (segmentStart === 0) return { output: chunk, committed }
    out.push(chunk.slice(segmentStart))
    return { output: out.join(''), committed }
  }

  /** The character just stepped over closed a start, end or empty-element tag. */
  #tagEnded = false

  /** What ltx gets instead of the current character; undefined passes it through. */
  #replacement: string | undefined

  #error(condition: StreamFailure['condition'], text: string): StreamFailure {
    this.#state = State.failed
    return streamFailure(condition, text)
  }

  #step(c: number): StreamFailure | undefined {
    switch (this.#state) {
      case State.prolog:
      case State.text:
      case State.done:
        if (c === 0x3c /* < */) {
          this.#ltAtStart = this.#state === State.prolog
          this.#state = State.lt
          this.#replacement = '' // held back until the next character says what it starts
          return undefined
        }
        if (c === 0x26 /* & */) {
          if (this.#depth === 0) return this.#error('not-well-formed', 'text outside the root element')
          this.#entity = ''
          this.#entityReturn = State.text
          this.#state = State.entity
          return undefined
        }
        if (this.#depth === 0 && !isSpace(c)) return this.#error('not-well-formed', 'text outside the root element')
        if (this.#state === State.prolog && !isSpace(c)) this.#state = State.text
        return undefined
      default:
        return this.#stepMarkup(c)
    }
  }

  #stepMarkup(c: number): StreamFailure | undefined {
    switch (this.#state) {
      case State.lt:
        if (c === 0x2f /* / */) {
          if (this.#depth === 0) return this.#error('not-well-formed', 'end tag without a start tag')
          this.#name = ''
          this.#nameBytes = 0
          this.#state = State.endName
          this.#replacement = '</'
          return undefined
        }
        if (c === 0x21 /* ! */) {
          this.#state = State.bang
          this.#replacement = ''
          return undefined
        }
        if (c === 0x3f /* ? */) {
          if (!this.#atDocumentStart()) {
            return this.#error('restricted-xml', 'processing instructions are not allowed')
          }
          this.#name = ''
          this.#declPrev = 0
          this.#state = State.declaration
          this.#replacement = ''
          return undefined
        }
        if (!isNameStart(c)) return this.#error('not-well-formed', 'invalid character after <')
        if (this.#rootSeen && this.#depth === 0) {
          return this.#error('not-well-formed', 'more than one root element')
        }
        if (this.#depth + 1 > this.limits.maxDepth) {
          return this.#error('policy-violation', `elements nested deeper than ${this.limits.maxDepth}`)
        }
        this.#name = String.fromCharCode(c)
        this.#nameBytes = utf8Bytes(c)
        if (this.#nameBytes > this.limits.maxNameBytes) {
          return this.#error('policy-violation', `name longer than ${this.limits.maxNameBytes} bytes`)
        }
        this.#attrNames.clear()
        this.#state = State.startName
        this.#replacement = '<' + String.fromCharCode(c)
        return undefined

      case State.bang:
        this.#replacement = ''
        if (c === 0x5b /* [ */ && this.#depth > 0) {
          this.#cdataMatched = 1
          this.#state = State.cdataOpen
          return undefined
        }
        // Comments, DOCTYPE, ENTITY and the rest: RFC 6120 §11.1.
        return this.#error('restricted-xml', c === 0x2d ? 'comments are not allowed' : 'DTDs are not allowed')

      case State.cdataOpen:
        this.#replacement = ''
        if (c !== CDATA_OPEN.charCodeAt(this.#cdataMatched)) {
          return this.#error('not-well-formed', 'malformed CDATA section')
        }
        this.#cdataMatched += 1
        if (this.#cdataMatched === CDATA_OPEN.length) {
          this.#cdataBrackets = 0
          this.#state = State.cdata
        }
        return undefined

      case State.cdata:
        // Brackets are held back until we know whether they end the section.
        if (c === 0x5d /* ] */) {
          this.#cdataBrackets += 1
          this.#replacement = ''
        } else if (c === 0x3e /* > */ && this.#cdataBrackets >= 2) {
          this.#replacement = ']'.repeat(this.#cdataBrackets - 2)
          this.#state = State.text
        } else {
          this.#replacement = ']'.repeat(this.#cdataBrackets) + escapeCdataChar(c)
          this.#cdataBrackets = 0
        }
        return undefined

      case State.declaration:
        this.#replacement = ''
        // Only `<?xml ...?>` at the very start is tolerated (RFC 6120 §11.5).
        if (this.#name.length < 3) {
          this.#name += String.fromCharCode(c)
          if (this.#name.length === 3 && this.#name !== 'xml') {
            return this.#error('restricted-xml', 'processing instructions are not allowed')
          }
          return undefined
        }
        if (this.#name.length === 3) {
          if (!isSpace(c)) return this.#error('restricted-xml', 'processing instructions are not allowed')
          this.#name += ' '
          return undefined
        }
        if (c === 0x3e /* > */ && this.#declPrev === 0x3f /* ? */) {
          this.#state = State.text
          return undefined
        }
        this.#declPrev = c
        return undefined

      case State.startName:
        if (isNameChar(c)) return this.#growName(c)
        if (isSpace(c)) {
          this.#sawSpace = true
          this.#state = State.inTag
          return undefined
        }
        if (c === 0x3e /* > */) return this.#openElement()
        if (c === 0x2f /* / */) {
          this.#state = State.selfClose
          return undefined
        }
        return this.#error('not-well-formed', 'invalid character in element name')

      case State.inTag:
        if (isSpace(c)) {
          this.#sawSpace = true
          return undefined
        }
        if (c === 0x3e /* > */) return this.#openElement()
        if (c === 0x2f /* / */) {
          this.#state = State.selfClose
          return undefined
        }
        if (isNameStart(c) && this.#sawSpace) {
          if (this.#attrNames.size + 1 > this.limits.maxAttributes) {
            return this.#error('policy-violation', `more than ${this.limits.maxAttributes} attributes`)
          }
          this.#attrName = String.fromCharCode(c)
          this.#attrNameBytes = utf8Bytes(c)
          this.#state = State.attrName
          return undefined
        }
        return this.#error('not-well-formed', 'malformed start tag')

      case State.attrName:
        if (isNameChar(c)) {
          this.#attrName += String.fromCharCode(c)
          this.#attrNameBytes += utf8Bytes(c)
          if (this.#attrNameBytes > this.limits.maxNameBytes) {
            return this.#error('policy-violation', `name longer than ${this.limits.maxNameBytes} bytes`)
          }
          return undefined
        }
        if (isSpace(c)) {
          this.#state = State.afterAttrName
          return undefined
        }
        if (c === 0x3d /* = */) return this.#attributeEquals()
        return this.#error('not-well-formed', 'malformed attribute')

      case State.afterAttrName:
        if (isSpace(c)) return undefined
        if (c === 0x3d /* = */) return this.#attributeEquals()
        return this.#error('not-well-formed', 'attribute without a value')

      case State.beforeValue:
        if (isSpace(c)) return undefined
        if (c === 0x22 || c === 0x27) {
          this.#quote = c
          this.#valueBytes = 0
          this.#state = State.attrValue
          return undefined
        }
        return this.#error('not-well-formed', 'attribute value must be quoted')

      case State.attrValue:
        if (c === this.#quote) {
          this.#sawSpace = false
          this.#state = State.inTag
          return undefined
        }
        this.#valueBytes += utf8Bytes(c)
        if (this.#valueBytes > this.limits.maxAttributeValueBytes) {
          return this.#error('policy-violation', `attribute value longer than ${this.limits.maxAttributeValueBytes} bytes`)
        }
        if (c === 0x3c /* < */) return this.#error('not-well-formed', "'<' in attribute value")
        if (c === 0x26 /* & */) {
          this.#entity = ''
          this.#entityReturn = State.attrValue
          this.#state = State.entity
        }
        return undefined

      case State.entity:
        if (c === 0x3b /* ; */) {
          if (!validEntity(this.#entity)) {
            // Undeclared entities are a well-formedness error (XML 1.0 WFC: Entity Declared).
            return this.#error('not-well-formed', 'unknown entity or invalid character reference')
          }
          this.#state = this.#entityReturn
          return undefined
        }
        this.#entity += String.fromCharCode(c)
        if (this.#entity.length > 10) return this.#error('not-well-formed', 'unknown entity or stray &')
        if (this.#entityReturn === State.attrValue) {
          // A reference never expands to more than it takes to write, so counting it as written bounds the value.
          this.#valueBytes += 1
          if (this.#valueBytes > this.limits.maxAttributeValueBytes) {
            return this.#error('policy-violation', `attribute value longer than ${this.limits.maxAttributeValueBytes} bytes`)
          }
        }
        return undefined

      case State.selfClose:
        if (c !== 0x3e /* > */) return this.#error('not-well-formed', "expected '>' after '/'")
        this.#openElement()
        return this.#closeElement()

      case State.endName:
        if (this.#name === '' ? isNameStart(c) : isNameChar(c)) return this.#growName(c)
        if (isSpace(c) && this.#name !== '') {
          this.#state = State.afterEndName
          return undefined
        }
        if (c === 0x3e /* > */ && this.#name !== '') return this.#matchEndTag()
        return this.#error('not-well-formed', 'malformed end tag')

      case State.afterEndName:
        if (isSpace(c)) return undefined
        if (c === 0x3e /* > */) return this.#matchEndTag()
        return this.#error('not-well-formed', 'malformed end tag')

      case State.failed:
        return streamFailure('not-well-formed', 'stream already failed')
    }
    return undefined
  }

  #atDocumentStart(): boolean {
    return this.#ltAtStart
  }

  #growName(c: number): StreamFailure | undefined {
    this.#name += String.fromCharCode(c)
    this.#nameBytes += utf8Bytes(c)
    if (this.#nameBytes > this.limits.maxNameBytes) {
      return this.#error('policy-violation', `name longer than ${this.limits.maxNameBytes} bytes`)
    }
    return undefined
  }

  #attributeEquals(): StreamFailure | undefined {
    if (this.#attrNames.has(this.#attrName)) {
      return this.#error('not-well-formed', 'duplicate attribute')
    }
    if (this.#attrName === '__proto__') {
      // ltx keeps attributes in a plain object, where this name would vanish silently.
      return this.#error('policy-violation', 'attribute name __proto__ is not supported')
    }
    this.#attrNames.add(this.#attrName)
    this.#state = State.beforeValue
    return undefined
  }

  #openElement(): StreamFailure | undefined {
    this.#tagEnded = true
    this.#depth += 1
    this.#open.push(this.#name)
    this.#rootSeen = true
    this.#sawSpace = false
    this.#state = State.text
    // The stream header is its own unit; the first stanza starts afresh.
    if (this.mode === 'stream' && this.#depth === 1) this.#unitBytes = 0
    return undefined
  }

  #matchEndTag(): StreamFailure | undefined {
    const expected = this.#open[this.#open.length - 1]
    if (expected !== this.#name) {
      return this.#error('not-well-formed', 'end tag does not match start tag')
    }
    return this.#closeElement()
  }

  #closeElement(): StreamFailure | undefined {
    this.#tagEnded = true
    this.#open.pop()
    this.#depth -= 1
    this.#state = this.#depth === 0 ? State.done : State.text
    // A stanza just ended: the next one starts a fresh byte budget.
    if ((this.mode === 'stream' && this.#depth === 1) || this.#depth === 0) this.#unitBytes = 0
    return undefined
  }
}
