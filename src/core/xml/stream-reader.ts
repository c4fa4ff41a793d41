/**
 * The XML stream reader as ltx elements: the tokenizer (the one pass over
 * the bytes that applies every rule and limit) with each complete element
 * made into an ltx tree. For the places that want trees — tests, tools,
 * whatever Causeway must understand — not for the relay path, which takes
 * the tokenizer's elements as bytes.
 *
 * `stream` mode emits `stream-start`, one `element` per child of the root
 * and `stream-end`; `document` mode exactly one `element`. After its first
 * error the reader is inert.
 */
import type { Element } from 'ltx'
import type { StreamFailure } from '../conditions.js'
import { streamFailure } from '../conditions.js'
import { rootElement, toElement } from './element.js'
import type { XmlLimits } from './limits.js'
import { XmlTokenizer } from './tokenizer.js'
import type { XmlElement, XmlSink } from './tokenizer.js'

export type ScanMode = 'stream' | 'document'

export type ReaderEvent =
  /** stream mode: the root start tag, as an element without children. */
  | { readonly type: 'stream-start'; readonly element: Element }
  /** stream mode: one complete child of the root; document mode: the root itself. */
  | { readonly type: 'element'; readonly element: Element }
  /** stream mode: the root end tag. */
  | { readonly type: 'stream-end' }
  | { readonly type: 'error'; readonly failure: StreamFailure }

const encoder = new TextEncoder()

export class XmlStreamReader implements XmlSink {
  readonly #tokenizer: XmlTokenizer
  #events: ReaderEvent[] = []
  #root: Element | undefined
  /** String input: a high surrogate whose low half is in the next string. */
  #highSurrogate = ''

  constructor(mode: ScanMode, limits: XmlLimits) {
    this.#tokenizer = new XmlTokenizer(mode === 'stream' ? 'stream' : 'message', limits, this)
  }

  get failed(): boolean {
    return this.#tokenizer.failed
  }

  /** Feed bytes (or text, for tests) and collect the events they complete. */
  write(chunk: Uint8Array | string): ReaderEvent[] {
    this.#events = []
    if (typeof chunk === 'string') this.#writeText(chunk)
    else this.#tokenizer.write(chunk)
    return this.#events
  }

  /** Document mode: the input is over. Yields an error unless exactly one complete root element was read. */
  end(): ReaderEvent[] {
    this.#events = []
    if (this.#highSurrogate !== '') this.#unpaired()
    else this.#tokenizer.end()
    return this.#events
  }

  /** RFC 6120 §4.3.3: after STARTTLS or SASL success a new stream starts from nothing. */
  reset(): void {
    this.#tokenizer.reset()
    this.#root = undefined
    this.#highSurrogate = ''
  }

  // ── XmlSink ──

  rootStart(root: XmlElement): void {
    this.#root = rootElement(root)
    this.#events.push({ type: 'stream-start', element: this.#root })
  }

  element(element: XmlElement): void {
    // A child of the stream root is not added to its children (that would keep every
    // stanza alive), but its parent link lets prefixes such as `stream:` resolve.
    this.#events.push({ type: 'element', element: toElement(element, this.#root) })
  }

  rootEnd(): void {
    this.#events.push({ type: 'stream-end' })
  }

  error(failure: StreamFailure): void {
    this.#events.push({ type: 'error', failure })
  }

  /**
   * Text handed over as a string may hold lone surrogates that UTF-8 bytes
   * never could: what comes before one is read, then it is an error.
   */
  #writeText(input: string): void {
    let text = this.#highSurrogate + input
    this.#highSurrogate = ''
    const last = text.charCodeAt(text.length - 1)
    if (last >= 0xd800 && last <= 0xdbff) {
      this.#highSurrogate = text.slice(-1)
      text = text.slice(0, -1)
    }
    const lone = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.exec(text)
    this.#tokenizer.write(encoder.encode(lone ? text.slice(0, lone.index) : text))
    if (lone && !this.#tokenizer.failed) this.#unpaired()
  }

  #unpaired(): void {
    this.#highSurrogate = ''
    this.#tokenizer.interrupt(streamFailure('not-well-formed', 'unpaired surrogate'))
  }
}

export type { XmlLimits }
