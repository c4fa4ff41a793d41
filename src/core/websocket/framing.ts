/**
 * RFC 7395 framing, translated to and from an RFC 6120 TCP stream.
 *
 * WebSocket side: every message is one standalone XML document — `<open/>`,
 * `<close/>`, or one stanza / stream-level element with its namespaces
 * declared (RFC 7395 §3.3.3). TCP side: one long `<stream:stream>` document.
 * This module only converts; the session decides what to do.
 */
import { escapeAttribute, serialize } from '../xml/serialize.js'
import { utf8Length } from '../xml/utf8.js'
import type { Element } from 'ltx'
import type { StreamFailure } from '../conditions.js'
import { NS, streamFailure } from '../conditions.js'
import { XmlStreamReader } from '../xml/stream-reader.js'
import type { XmlLimits } from '../xml/stream-reader.js'
import type { StreamInfo } from '../xmpp/stream-header.js'
import { streamErrorXml } from '../xmpp/stream-header.js'

export type ClientFrame =
  /** RFC 7395 §3.4: `<open/>` starts (or, after SASL, restarts) the stream. */
  | { readonly kind: 'open'; readonly to: string | undefined; readonly lang: string | undefined; readonly from: string | undefined }
  /** RFC 7395 §3.6: `<close/>` ends it. */
  | { readonly kind: 'close' }
  /** Anything else: a stanza or a stream-level element (SASL, SM, …). */
  | { readonly kind: 'element'; readonly element: Element; readonly bytes: number }
  | { readonly kind: 'error'; readonly failure: StreamFailure }

/** Parse one WebSocket text message from the client. */
export function parseClientMessage(message: string, limits: XmlLimits): ClientFrame {
  const reader = new XmlStreamReader('document', limits)
  const events = [...reader.write(message), ...reader.end()]
  let root: Element | undefined
  for (const event of events) {
    if (event.type === 'error') return { kind: 'error', failure: event.failure }
    if (event.type === 'element') root = event.element
  }
  if (!root) return { kind: 'error', failure: streamFailure('not-well-formed', 'empty message') }
  return classify(root, utf8Length(message))
}

function classify(root: Element, bytes: number): ClientFrame {
  const ns = root.getNS()
  if (root.getName() === 'open' || root.getName() === 'close') {
    // `<open xmlns='jabber:client'/>` or a prefixed `<stream:open>` is not the framing element.
    if (ns !== NS.framing || root.name.includes(':')) {
      return { kind: 'error', failure: streamFailure('invalid-namespace', `<${root.getName()}/> must be in ${NS.framing}`) }
    }
    if (root.getName() === 'close') return { kind: 'close' }
    const version = root.attrs.version
    // RFC 6120 §4.7.5: a version we cannot speak is unsupported-version.
    if (version !== undefined && !/^1\.\d+$/.test(version)) {
      return { kind: 'error', failure: streamFailure('unsupported-version', 'XMPP version 1.0 is required') }
    }
    if (version === undefined) {
      return { kind: 'error', failure: streamFailure('unsupported-version', 'the version attribute is required') }
    }
    return { kind: 'open', to: root.attrs.to, lang: root.attrs['xml:lang'], from: root.attrs.from }
  }
  if (ns === NS.framing) {
    return { kind: 'error', failure: streamFailure('unsupported-stanza-type', `unknown framing element <${root.getName()}/>`) }
  }
  if (ns === undefined) {
    if (root.name.includes(':')) {
      return { kind: 'error', failure: streamFailure('bad-namespace-prefix', `prefix of <${root.name}> is not declared`) }
    }
    // RFC 7395 §3.3.3 asks every message to declare its namespace; one that
    // does not means what it would mean on a TCP stream: jabber:client.
    root.attrs.xmlns = NS.client
  }
  if (ns === NS.stream && root.getName() === 'stream') {
    return { kind: 'error', failure: streamFailure('unsupported-stanza-type', '<stream:stream> is not used over WebSocket') }
  }
  return { kind: 'element', element: root, bytes }
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

/**
 * The client's element for the TCP stream: it carries its own namespace
 * declarations, which are harmless (and equal) inside the upstream stream.
 */
export function upstreamMessage(element: Element): string {
  return serialize(element)
}

/** RFC 7395 §3.6.1: a stream error is followed by `<close/>`. */
export function streamErrorMessages(failure: StreamFailure): [string, string] {
  return [streamErrorXml(failure.condition, failure.text), CLOSE_MESSAGE]
}
