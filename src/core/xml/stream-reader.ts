/**
 * The XML stream reader: bytes in, XMPP-level events out.
 *
 * bytes ─▶ streaming UTF-8 decoder ─▶ RestrictedScanner (rules, budget) ─▶ ltx ─▶ element builder
 *
 * The decoder keeps a multibyte character split across reads intact, the
 * scanner refuses anything RFC 6120 §11 forbids before ltx sees it, and an
 * exception from ltx becomes `not-well-formed` for this reader only. After
 * the first failure the reader is inert: it returns nothing more.
 */
import { Element, Parser } from 'ltx'
import type { SaxTokenizer } from 'ltx'
import type { StreamFailure } from '../conditions.js'
import { streamFailure } from '../conditions.js'
import { RestrictedScanner } from './restricted-scanner.js'
import { scanUtf8 } from './utf8.js'
import type { ScanMode, XmlLimits } from './restricted-scanner.js'

export type ReaderEvent =
  /** stream mode: the root start tag, as an element without children. */
  | { readonly type: 'stream-start'; readonly element: Element }
  /** stream mode: one complete child of the root; document mode: the root itself. */
  | { readonly type: 'element'; readonly element: Element }
  /** stream mode: the root end tag. */
  | { readonly type: 'stream-end' }
  | { readonly type: 'error'; readonly failure: StreamFailure }

export class XmlStreamReader {
  // Only ever given bytes scanUtf8 accepted; a byte-order mark is handled by #feed.
  #decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
  /** The start of a multibyte character whose remaining bytes have not arrived. */
  #pending: Uint8Array | undefined
  /** Nothing has been read yet (a leading byte-order mark is dropped). */
  #atStart = true
  /** Accepted text after the last completed tag, not yet given to ltx. */
  #heldBack: string[] = []
  #scanner: RestrictedScanner
  #sax: SaxTokenizer
  #events: ReaderEvent[] = []
  #root: Element | undefined
  #cursor: Element | undefined
  #failed = false

  constructor(
    private readonly mode: ScanMode,
    private readonly limits: XmlLimits,
  ) {
    this.#scanner = new RestrictedScanner(mode, limits)
    this.#sax = this.#newSax()
  }

  /** True after an error event: the reader accepts nothing more. */
  get failed(): boolean {
    return this.#failed
  }

  /** Feed bytes (or already-decoded text) and collect the events they complete. */
  write(chunk: Uint8Array | string): ReaderEvent[] {
    if (this.#failed) return []
    if (typeof chunk === 'string') return this.#feed(chunk)
    const bytes = this.#pending ? concat(this.#pending, chunk) : chunk
    this.#pending = undefined
    const scan = scanUtf8(bytes)
    const text = scan.valid > 0 ? this.#decoder.decode(bytes.subarray(0, scan.valid)) : ''
    const events = text ? this.#feed(text) : []
    if (scan.valid === bytes.length || this.#failed) return events
    if (scan.incompleteTail) {
      this.#pending = bytes.slice(scan.valid)
      return events
    }
    // Everything before the bad byte counts, however the bytes were split.
    return [...events, ...this.#failWith(streamFailure('not-well-formed', 'invalid UTF-8'))]
  }

  /**
   * Document mode: the input is over. Yields an error unless exactly one
   * complete root element was read.
   */
  end(): ReaderEvent[] {
    if (this.#failed) return []
    if (this.#pending) {
      this.#pending = undefined
      return this.#failWith(streamFailure('not-well-formed', 'truncated UTF-8 sequence'))
    }
    const events: ReaderEvent[] = []
    if (this.mode === 'document' && !this.#scanner.complete) {
      return [...events, ...this.#failWith(streamFailure('not-well-formed', this.#scanner.started ? 'incomplete element' : 'empty document'))]
    }
    return events
  }

  /**
   * RFC 6120 §4.3.3: after STARTTLS or SASL success both sides start a new
   * stream on the same connection, so parsing starts over from nothing.
   */
  reset(): void {
    this.#pending = undefined
    this.#heldBack = []
    this.#atStart = true
    this.#scanner = new RestrictedScanner(this.mode, this.limits)
    this.#sax.removeAllListeners()
    this.#sax = this.#newSax()
    this.#root = undefined
    this.#cursor = undefined
    this.#failed = false
  }

  #feed(input: string): ReaderEvent[] {
    let text = input
    if (this.#atStart && text.length > 0) {
      this.#atStart = false
      // XML 1.0 §4.3.3: a byte-order mark may start the entity; it is not content.
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    }
    const scan = this.#scanner.scan(text)
    const accepted = this.#wholeTags(scan.output, scan.committed)
    this.#events = []
    if (accepted.length > 0) {
      try {
        this.#sax.write(accepted)
      } catch {
        // ltx throws on entities it cannot expand; the scanner should have
        // caught those first, but the process must never depend on it.
        this.#events.push(...this.#failWith(streamFailure('not-well-formed', 'unparsable XML')))
      }
    }
    if (scan.failure && !this.#failed) this.#events.push(...this.#failWith(scan.failure))
    const events = this.#events
    this.#events = []
    return events
  }

  /**
   * What ltx may read now: everything up to the last completed tag. An
   * unfinished text run or attribute value waits (bounded by the scanner's
   * budget) until a later chunk completes a tag, keeping ltx linear.
   */
  #wholeTags(output: string, committed: number): string {
    if (committed === 0) {
      if (output.length > 0) this.#heldBack.push(output)
      return ''
    }
    const ready = this.#heldBack.length === 0 ? output.slice(0, committed) : this.#heldBack.join('') + output.slice(0, committed)
    this.#heldBack = committed < output.length ? [output.slice(committed)] : []
    return ready
  }

  #failWith(failure: StreamFailure): ReaderEvent[] {
    this.#failed = true
    return [{ type: 'error', failure }]
  }

  #newSax(): SaxTokenizer {
    const sax = new SaxLtx()
    sax.on('startElement', (name: string, attrs: Record<string, string>) => this.#onStart(name, attrs))
    sax.on('endElement', () => this.#onEnd())
    sax.on('text', (text: string) => this.#onText(text))
    return sax
  }

  #onStart(name: string, attrs: Record<string, string>): void {
    if (this.#failed) return
    const element = new Element(name, attrs)
    if (!this.#root) {
      this.#root = element
      this.#cursor = element
      if (this.mode === 'stream') this.#events.push({ type: 'stream-start', element })
      return
    }
    // Stream children are not attached to the root: each stanza stands alone.
    if (this.mode === 'stream' && this.#cursor === this.#root) {
      this.#cursor = element
      return
    }
    this.#cursor?.cnode(element)
    this.#cursor = element
  }

  #onEnd(): void {
    if (this.#failed) return
    const element = this.#cursor
    if (!element) return
    if (element === this.#root) {
      this.#cursor = undefined
      this.#events.push(this.mode === 'stream' ? { type: 'stream-end' } : { type: 'element', element })
      return
    }
    if (element.parent) {
      this.#cursor = element.parent
      return
    }
    // A complete child of the stream root. It is not added to the root's
    // children (that would keep every stanza alive), but its parent link lets
    // prefixes such as `stream:` resolve against the root's declarations.
    this.#cursor = this.#root
    element.parent = this.#root ?? null
    this.#events.push({ type: 'element', element })
  }

  #onText(text: string): void {
    if (this.#failed) return
    const cursor = this.#cursor
    // Whitespace between stanzas (keepalives) carries no meaning.
    if (!cursor || (this.mode === 'stream' && cursor === this.#root)) return
    cursor.t(text)
  }
}

/**
 * ltx's own SAX tokenizer, reached through its public entry point: the
 * Parser class names it as its default. The reader builds elements itself
 * (stream children stand alone), so ltx's tree builder is not used.
 */
const SaxLtx = Parser.prototype.DefaultParser

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length)
  joined.set(a, 0)
  joined.set(b, a.length)
  return joined
}

export type { XmlLimits, ScanMode }
