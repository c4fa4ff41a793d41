/**
 * RFC 7395 framing, translated to and from an RFC 6120 TCP stream.
 *
 * WebSocket side: every message is one standalone XML document — `<open/>`,
 * `<close/>`, or one stanza / stream-level element with its namespaces
 * declared (RFC 7395 §3.3.3). TCP side: one long `<stream:stream>` document.
 * This module only converts; the session decides what to do.
 */
import type { Element } from 'ltx'
import type { StreamFailure } from '../conditions.js'
import { NS, streamFailure } from '../conditions.js'
import type { XmlLimits } from '../xml/limits.js'
import { escapeAttribute, serialize } from '../xml/serialize.js'
import { XmlTokenizer } from '../xml/tokenizer.js'
import type { XmlElement, XmlSink } from '../xml/tokenizer.js'
import type { StreamInfo } from '../xmpp/stream-header.js'
import { streamErrorXml } from '../xmpp/stream-header.js'

export type ClientFrame =
  /** RFC 7395 §3.4: `<open/>` starts (or, after SASL, restarts) the stream. */
  | { readonly kind: 'open'; readonly to: string | undefined; readonly lang: string | undefined; readonly from: string | undefined }
  /** RFC 7395 §3.6: `<close/>` ends it. */
  | { readonly kind: 'close' }
  /**
   * Anything else: a stanza or a stream-level element (SASL, SM, …), as the
   * bytes the client sent (its namespace declarations included, so it reads
   * the same inside the upstream stream).
   */
  | { readonly kind: 'element'; readonly element: XmlElement }
  | { readonly kind: 'error'; readonly failure: StreamFailure }

/**
 * Reads the client's WebSocket messages, one standalone document each
 * (RFC 7395 §3.3.3). A message is read whole and at once, so one reader (and
 * its tokenizer) serves every session with the same limits: `readerFor`.
 * It keeps nothing of a message after reading it.
 */
export class ClientMessageReader implements XmlSink {
  readonly #tokenizer: XmlTokenizer
  #root: XmlElement | undefined
  #failure: StreamFailure | undefined

  constructor(limits: XmlLimits) {
    this.#tokenizer = new XmlTokenizer('message', limits, this)
  }

  read(message: Uint8Array): ClientFrame {
    this.#root = undefined
    this.#failure = undefined
    this.#tokenizer.reset()
    this.#tokenizer.write(message)
    this.#tokenizer.end()
    const failure = this.#failure
    const root = this.#root
    this.#root = undefined
    this.#failure = undefined
    if (failure) return { kind: 'error', failure }
    if (!root) return { kind: 'error', failure: streamFailure('not-well-formed', 'empty message') }
    return classify(root)
  }

  rootStart(): void {}

  element(element: XmlElement): void {
    this.#root = element
  }

  rootEnd(): void {}

  error(failure: StreamFailure): void {
    this.#failure ??= failure
  }
}

const encoder = new TextEncoder()

const readers = new WeakMap<XmlLimits, ClientMessageReader>()

/** The reader shared by every session with these limits. */
export function readerFor(limits: XmlLimits): ClientMessageReader {
  let reader = readers.get(limits)
  if (!reader) readers.set(limits, (reader = new ClientMessageReader(limits)))
  return reader
}

/** One message read by a fresh reader (tests, tools; sessions keep one reader). */
export function parseClientMessage(message: string | Uint8Array, limits: XmlLimits): ClientFrame {
  return new ClientMessageReader(limits).read(typeof message === 'string' ? encoder.encode(message) : message)
}

function classify(root: XmlElement): ClientFrame {
  const local = root.localName
  const ns = root.namespace()
  if (local === 'open' || local === 'close') {
    // `<open xmlns='jabber:client'/>` or a prefixed `<stream:open>` is not the framing element.
    if (ns !== NS.framing || root.prefix !== undefined) {
      return { kind: 'error', failure: streamFailure('invalid-namespace', `<${local}/> must be in ${NS.framing}`) }
    }
    if (local === 'close') return { kind: 'close' }
    const version = root.attr('version')
    // RFC 6120 §4.7.5: a version we cannot speak is unsupported-version.
    if (version !== undefined && !/^1\.\d+$/.test(version)) {
      return { kind: 'error', failure: streamFailure('unsupported-version', 'XMPP version 1.0 is required') }
    }
    if (version === undefined) {
      return { kind: 'error', failure: streamFailure('unsupported-version', 'the version attribute is required') }
    }
    return { kind: 'open', to: root.attr('to'), lang: root.attr('xml:lang'), from: root.attr('from') }
  }
  if (ns === NS.framing) {
    return { kind: 'error', failure: streamFailure('unsupported-stanza-type', `unknown framing element <${local}/>`) }
  }
  if (ns === undefined && root.prefix !== undefined) {
    return { kind: 'error', failure: streamFailure('bad-namespace-prefix', `prefix of <${root.name}> is not declared`) }
  }
  if (ns === '') {
    // RFC 6120 §4.9.3.10: xmlns='' takes the element out of every namespace, and no content namespace is none.
    return { kind: 'error', failure: streamFailure('invalid-namespace', `<${root.name}> is in no namespace (xmlns='')`) }
  }
  if (ns === NS.stream && local === 'stream') {
    return { kind: 'error', failure: streamFailure('unsupported-stanza-type', '<stream:stream> is not used over WebSocket') }
  }
  // RFC 7395 §3.3.3 asks every message to declare its namespace; one that
  // does not means what it would mean on a TCP stream: jabber:client, which
  // it inherits inside the upstream stream as it is.
  return { kind: 'element', element: root }
}

/** RFC 7395 §3.4: the upstream's stream header, as the `<open/>` the client expects. */
export function openMessage(info: StreamInfo): string {
  let xml = `<open xmlns='${NS.framing}'`
  if (info.from !== undefined) xml += ` from='${escapeAttribute(info.from)}'`
  if (info.id !== undefined) xml += ` id='${escapeAttribute(info.id)}'`
  xml += ` version='${escapeAttribute(info.version ?? '1.0')}'`
  if (info.lang !== undefined) xml += ` xml:lang='${escapeAttribute(info.lang)}'`
  return xml + '/>'
}

export const CLOSE_MESSAGE = `<close xmlns='${NS.framing}'/>`

/** RFC 7395 §3.6.1: "the server MAY send a <close/> element and set the 'see-other-uri' attribute". */
export function seeOtherUriMessage(uri: string): string {
  return `<close xmlns='${NS.framing}' see-other-uri='${escapeAttribute(uri)}'/>`
}

/**
 * An element read from the upstream stream, as a standalone WebSocket
 * message: it inherited `jabber:client` (and the `stream` prefix) from the
 * TCP stream root, so those declarations are added where missing.
 */
export function clientMessage(element: Element): string {
  const attrs = element.attrs
  if (element.name.startsWith('stream:')) {
    if (attrs['xmlns:stream'] === undefined) attrs['xmlns:stream'] = NS.stream
  } else if (!element.name.includes(':') && attrs.xmlns === undefined) {
    attrs.xmlns = NS.client
  }
  return serialize(element)
}

/** RFC 7395 §3.6.1: a stream error is followed by `<close/>`. */
export function streamErrorMessages(failure: StreamFailure): [string, string] {
  return [streamErrorXml(failure.condition, failure.text), CLOSE_MESSAGE]
}
