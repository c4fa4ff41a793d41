/**
 * Payloads and the <body/> wrapper on the way out (XEP-0124 §6, XEP-0206 §2):
 * elements are serialised once into a Payload, and `buildBody` wraps any
 * number of them with the wrapper's attributes. Every response body, the
 * terminate bodies included, is built here.
 */
import { escapeAttribute, serialize } from '../xml/serialize.js'
import { utf8Length } from '../xml/utf8.js'
import { Element } from 'ltx'
import type { BoshCondition } from '../conditions.js'
import { NS } from '../conditions.js'

/** One serialised child of a response body. */
export interface Payload {
  readonly xml: string
  /** UTF-8 length of `xml`: what it costs in pending-output budgets. */
  readonly bytes: number
  /** Uses the `stream:` prefix, so the wrapper must declare it (XEP-0206 §2). */
  readonly streamPrefix: boolean
}

export type BodyAttrValue = string | number | undefined
/** Wrapper attributes in output order; undefined values are left out. */
export type BodyAttrs = Readonly<Record<string, BodyAttrValue>>

function usesStreamPrefix(el: Element): boolean {
  return el.name.startsWith('stream:')
}

/** Serialise an element as it will appear inside a response body. */
export function toPayload(el: Element): Payload {
  const xml = serialize(el)
  return { xml, bytes: utf8Length(xml), streamPrefix: usesStreamPrefix(el) }
}

/**
 * A child of the upstream XMPP stream, made to stand alone inside the
 * httpbind wrapper: an unprefixed element without its own xmlns inherited
 * 'jabber:client' from <stream:stream>, so it gets that declaration.
 * XEP-0206 §2: stanzas are "qualified by the 'jabber:client' namespace".
 */
export function upstreamPayload(el: Element): Payload {
  if (!el.name.includes(':') && el.attrs.xmlns === undefined) el.attrs.xmlns = NS.client
  return toPayload(el)
}

/**
 * The response wrapper: `<body xmlns='http://jabber.org/protocol/httpbind' …>`.
 * `xmlns:xmpp` is declared when an `xmpp:` attribute is present (XEP-0206 §4)
 * and `xmlns:stream` when a child uses that prefix (XEP-0206 §2).
 */
export function buildBody(attrs: BodyAttrs = {}, children: readonly Payload[] = []): string {
  let out = `<body xmlns='${NS.httpbind}'`
  const names = Object.keys(attrs)
  if (names.some((name) => name.startsWith('xmpp:'))) out += ` xmlns:xmpp='${NS.xbosh}'`
  if (children.some((child) => child.streamPrefix)) out += ` xmlns:stream='${NS.stream}'`
  for (const name of names) {
    const value = attrs[name]
    if (value === undefined) continue
    out += ` ${name}='${escapeAttribute(String(value))}'`
  }
  if (children.length === 0) return out + '/>'
  out += '>'
  for (const child of children) out += child.xml
  return out + '</body>'
}

/**
 * The one terminate body (XEP-0124 §13, §17.2): `type='terminate'`, the
 * condition if any, and the children (stanzas then `<stream:error/>` for
 * remote-stream-error, XEP-0206 §7; `<uri/>` for see-other-uri).
 */
export function buildTerminateBody(
  condition: BoshCondition | undefined,
  children: readonly Payload[] = [],
  attrs: BodyAttrs = {},
): string {
  return buildBody({ type: 'terminate', condition, ...attrs }, children)
}

/** XEP-0124 §17.2 see-other-uri: "POSTing to the URI in the content of the <uri/> child element". */
export function uriPayload(uri: string): Payload {
  return toPayload(new Element('uri').t(uri))
}
