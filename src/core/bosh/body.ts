/**
 * Request bodies in (XEP-0124 §6, §7.1; XEP-0206 §3, §5): one HTTP request
 * body → a typed BoshRequest or a BoshFailure. Only syntax is judged here;
 * what the values mean for a session is decided by negotiate.ts and the
 * session. Output wrappers live in payload.ts.
 */
import type { Element } from 'ltx'
import type { BoshCondition, StreamFailure } from '../conditions.js'
import { NS } from '../conditions.js'
import { toElement } from '../xml/element.js'
import type { XmlLimits } from '../xml/limits.js'
import { serialize } from '../xml/serialize.js'
import { XmlTokenizer } from '../xml/tokenizer.js'
import type { XmlElement, XmlSink } from '../xml/tokenizer.js'

/** XEP-0124 §7.1 'route': "proto:host:port". */
export interface BoshRoute {
  readonly proto: string
  readonly host: string
  readonly port: number
}

/** XEP-0124 §7.1 'ver': "<major>.<minor>", each compared as an integer. */
export interface BoshVersion {
  readonly major: number
  readonly minor: number
}

interface RequestBase {
  readonly rid: number
  /** Children of the wrapper, as they will go upstream, in document order. */
  readonly payload: readonly XmlElement[]
  /** §16: a stream name; we never advertise multiple streams. */
  readonly stream?: string
  /** §15.4 key sequencing. */
  readonly key?: string
  readonly newkey?: string
  /** §7.1 / §16.3: identity to forward, and whether the server link must be secure. */
  readonly from?: string
  readonly secure?: boolean
}

/** A body without 'sid': the session creation request (XEP-0124 §7.1). */
export interface CreateRequest extends RequestBase {
  readonly kind: 'create'
  readonly to?: string
  readonly lang?: string
  /** Absent: a legacy client (§17.1). */
  readonly ver?: BoshVersion
  readonly wait?: number
  readonly hold?: number
  readonly content?: string
  /** XEP-0206 §3 xmpp:version. */
  readonly xmppVersion?: string
  readonly route?: BoshRoute
  /** §9.2: ack='1' announces that requests carry response acknowledgements. */
  readonly ack: boolean
}

/** Any later body of a session. */
export interface SessionRequest extends RequestBase {
  readonly kind: 'session'
  readonly sid: string
  /** §13: type='terminate'. */
  readonly terminate: boolean
  /** §17.2: a condition the client reports with its terminate. */
  readonly condition?: string
  /** XEP-0206 §5: xmpp:restart='true'. */
  readonly restart: boolean
  /** §10: requested pause, seconds. */
  readonly pause?: number
  /** §9.2: highest rid whose response the client has, all lower ones included. */
  readonly ack?: number
}

export type BoshRequest = CreateRequest | SessionRequest

/** A body refused before it reaches a session; `sid` is set when the wrapper named one. */
export interface BoshFailure {
  readonly condition: BoshCondition
  readonly text: string
  readonly sid?: string
}

export type BodyParseResult =
  | { readonly ok: true; readonly request: BoshRequest }
  | { readonly ok: false; readonly failure: BoshFailure }

export interface BodyLimits {
  /** Largest body accepted, bytes. */
  readonly maxBodyBytes: number
  /** Depth, attribute and name limits for the XML inside (the body wrapper counts as one level). */
  readonly xml: Omit<XmlLimits, 'maxStanzaBytes'>
}

/** XEP-0124 §14.1: rids must "never be incremented above 9007199254740991". */
export const MAX_RID = Number.MAX_SAFE_INTEGER

/** Printable ASCII: the 'content' attribute becomes an HTTP header value (§7.1). */
const HEADER_VALUE = /^[\x20-\x7e]{1,256}$/

class BodyError extends Error {
  constructor(
    readonly condition: BoshCondition,
    message: string,
  ) {
    super(message)
  }
}

function bad(text: string): never {
  throw new BodyError('bad-request', text)
}

function parseUnsigned(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined
  // 16 digits hold every safe integer; longer strings are refused before Number() rounds them.
  if (!/^[0-9]{1,16}$/.test(value)) bad(`'${name}' must be a non-negative integer`)
  const n = Number(value)
  if (n < min || n > MAX_RID) bad(`'${name}' out of range`)
  return n
}

function parseBoolean(name: string, value: string | undefined): boolean | undefined {
  switch (value) {
    case undefined:
      return undefined
    case 'true':
    case '1':
      return true
    case 'false':
    case '0':
      return false
    default:
      return bad(`'${name}' must be true or false`)
  }
}

function parseVersion(value: string | undefined): BoshVersion | undefined {
  if (value === undefined) return undefined
  const match = /^([0-9]{1,4})\.([0-9]{1,4})$/.exec(value)
  if (!match) return bad("'ver' must be <major>.<minor>")
  return { major: Number(match[1]), minor: Number(match[2]) }
}

/** "proto:host:port"; an IPv6 host may be bracketed. Not a URI (§7.1 note). */
export function parseRoute(value: string): BoshRoute | undefined {
  const first = value.indexOf(':')
  const last = value.lastIndexOf(':')
  if (first <= 0 || last === first) return undefined
  const proto = value.slice(0, first)
  let host = value.slice(first + 1, last)
  const portText = value.slice(last + 1)
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
  if (!/^[a-z][a-z0-9+.-]*$/i.test(proto) || host === '' || !/^[0-9]{1,5}$/.test(portText)) return undefined
  const port = Number(portText)
  if (port < 1 || port > 65535) return undefined
  return { proto, host, port }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}

/**
 * An attribute in the urn:xmpp:xbosh namespace, whatever prefix the client
 * bound to it; an undeclared `xmpp:` prefix is read too, since clients that
 * forget the declaration exist and the meaning is unambiguous.
 */
function xboshAttr(attrs: Readonly<Record<string, string>>, local: string): string | undefined {
  let sawXmppDeclaration = false
  for (const [name, value] of Object.entries(attrs)) {
    if (!name.startsWith('xmlns:')) continue
    const prefix = name.slice('xmlns:'.length)
    if (prefix === 'xmpp') sawXmppDeclaration = true
    if (value === NS.xbosh) {
      const attr = attrs[`${prefix}:${local}`]
      if (attr !== undefined) return attr
    }
  }
  return sawXmppDeclaration ? undefined : attrs[`xmpp:${local}`]
}

/** Prefixes used by an element or its descendants, on names or attributes. */
function usedPrefixes(el: Element, into: Set<string>): Set<string> {
  const colon = el.name.indexOf(':')
  if (colon > 0) into.add(el.name.slice(0, colon))
  for (const name of Object.keys(el.attrs)) {
    const c = name.indexOf(':')
    if (c > 0) {
      const prefix = name.slice(0, c)
      if (prefix !== 'xmlns' && prefix !== 'xml') into.add(prefix)
    }
  }
  for (const child of el.children) if (typeof child !== 'string') usedPrefixes(child, into)
  return into
}

/**
 * Detach a payload from the wrapper so it stands alone upstream: prefixes
 * it borrows from the wrapper are declared on it, and an explicit httpbind
 * default namespace becomes jabber:client (XEP-0206 §2 note: clients treat
 * jabber:client as "a subset of the 'http://jabber.org/protocol/httpbind' namespace").
 * A payload that needs neither (nearly all of them) goes as the bytes it came as.
 */
function detachPayload(attrs: Readonly<Record<string, string>>, child: XmlElement, reparse: (xml: string) => XmlElement): XmlElement {
  if (!child.usesPrefixes && child.attr('xmlns') !== NS.httpbind) return child
  const element = toElement(child)
  for (const prefix of usedPrefixes(element, new Set())) {
    const declaration = `xmlns:${prefix}`
    const uri = attrs[declaration]
    if (uri !== undefined && element.attrs[declaration] === undefined) element.attrs[declaration] = uri
  }
  if (element.attrs.xmlns === NS.httpbind) element.attrs.xmlns = NS.client
  return reparse(serialize(element))
}

function readBody(body: XmlElement, children: readonly XmlElement[], text: boolean, reparse: (xml: string) => XmlElement): BoshRequest {
  if (body.localName !== 'body' || body.namespace() !== NS.httpbind) {
    bad(`root must be <body xmlns='${NS.httpbind}'/>`)
  }
  // §6: "The <body/> wrapper MUST NOT contain any XML character data".
  if (text) bad('character data directly inside <body/>')
  const attrs = body.attrs()
  const payload = children.map((child) => detachPayload(attrs, child, reparse))
  const rid = parseUnsigned('rid', attrs.rid, 1)
  if (rid === undefined) bad("missing 'rid'")
  const common = {
    rid,
    payload,
    stream: attrs.stream,
    key: nonEmpty(attrs.key),
    newkey: nonEmpty(attrs.newkey),
    from: nonEmpty(attrs.from),
    secure: parseBoolean('secure', attrs.secure),
  }
  const sid = attrs.sid
  if (sid === undefined) {
    if (attrs.type !== undefined) bad("'type' on a session creation request")
    if (xboshAttr(attrs, 'restart') !== undefined) bad("'xmpp:restart' on a session creation request")
    const content = attrs.content
    if (content !== undefined && !HEADER_VALUE.test(content)) bad("'content' is not a valid Content-Type")
    const ack = attrs.ack
    if (ack !== undefined) parseUnsigned('ack', ack, 0)
    const routeText = attrs.route
    let route: BoshRoute | undefined
    if (routeText !== undefined) {
      route = parseRoute(routeText)
      if (!route) bad("'route' must be proto:host:port")
    }
    return {
      kind: 'create',
      ...common,
      to: nonEmpty(attrs.to),
      lang: nonEmpty(attrs['xml:lang']),
      ver: parseVersion(attrs.ver),
      wait: parseUnsigned('wait', attrs.wait, 0),
      hold: parseUnsigned('hold', attrs.hold, 0),
      content,
      xmppVersion: nonEmpty(xboshAttr(attrs, 'version')),
      route,
      ack: ack === '1',
    }
  }
  if (sid === '') bad("empty 'sid'")
  let terminate = false
  switch (attrs.type) {
    case undefined:
      break
    case 'terminate':
      terminate = true
      break
    default:
      bad(`unsupported type '${attrs.type}'`)
  }
  const restart = xboshAttr(attrs, 'restart')
  if (restart !== undefined && restart !== 'true' && restart !== 'false') bad("'xmpp:restart' must be true or false")
  return {
    kind: 'session',
    ...common,
    sid,
    terminate,
    condition: terminate ? nonEmpty(attrs.condition) : undefined,
    restart: restart === 'true',
    pause: parseUnsigned('pause', attrs.pause, 1),
    ack: parseUnsigned('ack', attrs.ack, 1),
  }
}

/**
 * Reads request bodies: one per registry, its tokenizer reused for every
 * request. XML errors and bad attribute syntax are 'bad-request' (§17.2:
 * "The format of an HTTP header or binding element ... is unacceptable");
 * a body over the size or shape limits is 'policy-violation', as those
 * limits are local policy.
 */
export class BodyReader implements XmlSink {
  readonly #tokenizer: XmlTokenizer
  readonly #limits: BodyLimits
  #root: XmlElement | undefined
  #children: XmlElement[] = []
  #failure: StreamFailure | undefined
  #reparsed: XmlElement | undefined

  constructor(limits: BodyLimits) {
    this.#limits = limits
    this.#tokenizer = new XmlTokenizer('body', { ...limits.xml, maxStanzaBytes: limits.maxBodyBytes }, this)
  }

  read(input: Uint8Array): BodyParseResult {
    if (input.byteLength > this.#limits.maxBodyBytes) {
      return { ok: false, failure: { condition: 'policy-violation', text: `body exceeds ${this.#limits.maxBodyBytes} bytes` } }
    }
    this.#root = undefined
    this.#children = []
    this.#failure = undefined
    this.#tokenizer.reset()
    this.#tokenizer.write(input)
    this.#tokenizer.end()
    // Read back as their declared types: the sink callbacks set them during write().
    const failure = this.#failure as StreamFailure | undefined
    if (failure) {
      const { condition, text } = failure
      return { ok: false, failure: { condition: condition === 'policy-violation' ? 'policy-violation' : 'bad-request', text: text ?? condition } }
    }
    const root = this.#root as XmlElement | undefined
    if (!root) return { ok: false, failure: { condition: 'bad-request', text: 'empty body' } }
    try {
      return { ok: true, request: readBody(root, this.#children, this.#tokenizer.rootText, (xml) => this.#reparse(xml)) }
    } catch (error) {
      if (!(error instanceof BodyError)) throw error
      const sid = nonEmpty(root.attr('sid'))
      const failure: BoshFailure = sid === undefined ? { condition: error.condition, text: error.message } : { condition: error.condition, text: error.message, sid }
      return { ok: false, failure }
    } finally {
      this.#children = []
    }
  }

  /** A payload rewritten to stand alone, read back as an element (rare: borrowed prefixes). */
  #reparse(xml: string): XmlElement {
    this.#reparsed = undefined
    const tokenizer = new XmlTokenizer('message', { ...this.#limits.xml, maxStanzaBytes: this.#limits.maxBodyBytes * 2 }, {
      rootStart: () => {},
      element: (element) => (this.#reparsed = element),
      rootEnd: () => {},
      error: () => {},
    })
    tokenizer.write(encoder.encode(xml))
    tokenizer.end()
    const element = this.#reparsed as XmlElement | undefined
    if (!element) bad('payload could not be detached from <body/>')
    return element
  }

  rootStart(root: XmlElement): void {
    this.#root = root
  }

  element(child: XmlElement): void {
    this.#children.push(child)
  }

  rootEnd(): void {}

  error(failure: StreamFailure): void {
    this.#failure ??= failure
  }
}

const encoder = new TextEncoder()

/** One body read by a fresh reader (tests, tools; the registry keeps one reader). */
export function parseBody(input: string | Uint8Array, limits: BodyLimits): BodyParseResult {
  return new BodyReader(limits).read(typeof input === 'string' ? encoder.encode(input) : input)
}
