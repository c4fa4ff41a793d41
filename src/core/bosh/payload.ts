/**
 * Payloads and the <body/> wrapper on the way out (XEP-0124 §6, XEP-0206 §2):
 * a response is the wrapper's start tag, then the stanzas' bytes as the
 * server sent them (with the namespace they inherited declared), then
 * `</body>`, built once as bytes. Every response body, the terminate bodies
 * included, is built here.
 */
import type { Element } from 'ltx'
import type { BoshCondition } from '../conditions.js'
import { NS } from '../conditions.js'
import { escapeAttribute, escapeText, serialize } from '../xml/serialize.js'
import { copyOf } from '../xml/tokenizer.js'
import type { XmlElement } from '../xml/tokenizer.js'
import { standalone, usesStreamPrefix } from '../xmpp/stanza.js'

/** One child of a response body, as bytes. */
export interface Payload {
  readonly bytes: Uint8Array
  /** Uses the `stream:` prefix, so the wrapper must declare it (XEP-0206 §2). */
  readonly streamPrefix: boolean
}

export type BodyAttrValue = string | number | undefined
/** Wrapper attributes in output order; undefined values are left out. */
export type BodyAttrs = Readonly<Record<string, BodyAttrValue>>

const encoder = new TextEncoder()
const BODY_END = encoder.encode('</body>')

/** An element Causeway made or edited (features, a stream error, `<uri/>`), serialised once. */
export function toPayload(el: Element): Payload {
  return { bytes: encoder.encode(serialize(el)), streamPrefix: el.name.startsWith('stream:') }
}

/**
 * A stanza from the upstream stream, made to stand alone inside the
 * httpbind wrapper. XEP-0206 §2: stanzas are "qualified by the
 * 'jabber:client' namespace". It may wait for a request, so a view of the
 * socket's read buffer is copied rather than kept.
 */
export function stanzaPayload(stanza: XmlElement): Payload {
  const bytes = standalone(stanza)
  return { bytes: bytes === stanza.bytes ? copyOf(bytes) : bytes, streamPrefix: usesStreamPrefix(stanza) }
}

/**
 * The response wrapper: `<body xmlns='http://jabber.org/protocol/httpbind' …>`.
 * `xmlns:xmpp` is declared when an `xmpp:` attribute is present (XEP-0206 §4)
 * and `xmlns:stream` when a child uses that prefix (XEP-0206 §2).
 */
export function buildBody(attrs: BodyAttrs = {}, children: readonly Payload[] = []): Uint8Array {
  let head = `<body xmlns='${NS.httpbind}'`
  const names = Object.keys(attrs)
  if (names.some((name) => name.startsWith('xmpp:'))) head += ` xmlns:xmpp='${NS.xbosh}'`
  if (children.some((child) => child.streamPrefix)) head += ` xmlns:stream='${NS.stream}'`
  for (const name of names) {
    const value = attrs[name]
    if (value === undefined) continue
    head += ` ${name}='${escapeAttribute(String(value))}'`
  }
  if (children.length === 0) return encoder.encode(head + '/>')
  const start = encoder.encode(head + '>')
  let length = start.length + BODY_END.length
  for (const child of children) length += child.bytes.length
  const out = new Uint8Array(length)
  out.set(start, 0)
  let at = start.length
  for (const child of children) {
    out.set(child.bytes, at)
    at += child.bytes.length
  }
  out.set(BODY_END, at)
  return out
}

/**
 * The one terminate body (XEP-0124 §13, §17.2): `type='terminate'`, the
 * condition if any, and the children (stanzas then `<stream:error/>` for
 * remote-stream-error, XEP-0206 §7; `<uri/>` for see-other-uri).
 */
export function buildTerminateBody(condition: BoshCondition | undefined, children: readonly Payload[] = [], attrs: BodyAttrs = {}): Uint8Array {
  return buildBody({ type: 'terminate', condition, ...attrs }, children)
}

/** XEP-0124 §17.2 see-other-uri: "POSTing to the URI in the content of the <uri/> child element". */
export function uriPayload(uri: string): Payload {
  return { bytes: encoder.encode(`<uri>${escapeText(uri)}</uri>`), streamPrefix: false }
}
