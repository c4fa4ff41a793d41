/**
 * Upstream routing: which XMPP server a client's `to` domain is relayed to.
 *
 * Pure data and functions, no sockets, no DNS. The table is built once from
 * the `upstream` option (`DOMAIN=URL` rules) and asked once per new session.
 *
 * Never an open relay: a domain is routed only if a rule names it exactly,
 * or a `*` rule sends everything to ONE fixed server (which then decides for
 * itself which domains it hosts). `*=srv` is refused because it would let
 * any client reach any XMPP server on the internet through us.
 *
 * Domains are compared exactly after ASCII-safe lowercasing. Unicode is NOT
 * mapped to punycode or otherwise folded, so a look-alike such as `lоcalhost`
 * (Cyrillic о) is simply a different, unknown domain.
 */
import { isIPv6 } from 'node:net'
import { checkDomain, normaliseDomain, quote } from '../core/xmpp/domain.js'

/** Where a session's TCP stream goes. */
export type UpstreamTarget =
  /** Plain TCP; STARTTLS is used when the server offers it. */
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  /** Plain TCP, STARTTLS required: the connection fails without it. */
  | { readonly kind: 'starttls'; readonly host: string; readonly port: number }
  /** Direct TLS from the first byte (XEP-0368). */
  | { readonly kind: 'tls'; readonly host: string; readonly port: number }
  /**
   * Resolve at connect time: `_xmpp-client._tcp.DOMAIN` (STARTTLS), then
   * `_xmpps-client._tcp.DOMAIN` (direct TLS, XEP-0368), DOMAIN being the routed domain.
   */
  | { readonly kind: 'srv' }

export type UpstreamKind = UpstreamTarget['kind']

/** One `DOMAIN=URL` rule. `domain` is normalised, or `*` for the fallback. */
export interface UpstreamRule {
  readonly domain: string
  readonly target: UpstreamTarget
}

export type RouteCondition = 'host-unknown' | 'improper-addressing'

export type RouteResult =
  | { readonly ok: true; readonly domain: string; readonly target: UpstreamTarget }
  | { readonly ok: false; readonly condition: RouteCondition; readonly reason: string }

/** A malformed rule or rule set. Messages say what is wrong and never need a stack to be understood. */
export class RoutingError extends Error {
  override name = 'RoutingError'
}

const WILDCARD = '*'
const DEFAULT_PORTS = { tcp: 5222, starttls: 5222, tls: 5223 } as const

const URL_SYNTAX = 'expected tcp://host[:port], starttls://host[:port], tls://host[:port] or srv'

function parseTarget(url: string, domain: string): UpstreamTarget | string {
  if (url === '') return `missing URL after "=" (${URL_SYNTAX})`
  if (url.toLowerCase() === 'srv') {
    if (domain === WILDCARD) {
      return '"*=srv" would relay to any XMPP server on the internet; name each domain that uses srv'
    }
    return { kind: 'srv' }
  }
  const match = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(url)
  if (!match) return `URL ${quote(url)} is not valid: ${URL_SYNTAX}`
  const scheme = (match[1] ?? '').toLowerCase()
  const rest = match[2] ?? ''
  if (scheme !== 'tcp' && scheme !== 'starttls' && scheme !== 'tls') {
    return `URL scheme "${scheme}" is not supported: ${URL_SYNTAX}`
  }
  if (/[/?#]/.test(rest)) return `URL ${quote(url)} must not have a path, query or fragment`
  if (rest.includes('@')) return `URL ${quote(url)} must not contain credentials`
  let host: string
  let portText: string | undefined
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']')
    if (close < 0) return `URL ${quote(url)} has an unterminated "["`
    host = rest.slice(1, close)
    if (!isIPv6(host)) return `URL ${quote(url)}: "${host}" in brackets is not an IPv6 address`
    const after = rest.slice(close + 1)
    if (after !== '') {
      if (!after.startsWith(':')) return `URL ${quote(url)} has unexpected text after "]"`
      portText = after.slice(1)
    }
  } else {
    const colons = rest.split(':').length - 1
    if (colons > 1) return `URL ${quote(url)}: an IPv6 address must be written in brackets, e.g. tcp://[::1]:5222`
    const colon = rest.indexOf(':')
    host = colon < 0 ? rest : rest.slice(0, colon)
    portText = colon < 0 ? undefined : rest.slice(colon + 1)
    if (host === '') return `URL ${quote(url)} has no host`
    if (!/^[\x21-\x7e]+$/.test(host)) {
      return `URL ${quote(url)}: host must be ASCII (write an internationalised name in its xn-- form)`
    }
    const check = checkDomain(host)
    if (!check.ok) return `URL ${quote(url)}: host ${check.reason.replace(/^domain /, '')}`
    host = check.domain
  }
  let port: number = DEFAULT_PORTS[scheme]
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      return `URL ${quote(url)}: port must be an integer between 1 and 65535 (got ${quote(portText)})`
    }
    port = Number(portText)
  }
  return { kind: scheme, host, port }
}

/**
 * Parse one `DOMAIN=URL` rule. DOMAIN is a domain (normalised as by
 * `normaliseDomain`) or `*`; URL is `tcp://host[:port]` (default 5222),
 * `starttls://host[:port]` (5222), `tls://host[:port]` (5223) or `srv`.
 * IPv6 hosts go in brackets: `tcp://[::1]:5222`.
 * @throws RoutingError naming the rule and what is wrong with it.
 */
export function parseUpstream(spec: string): UpstreamRule {
  const text = spec.trim()
  const eq = text.indexOf('=')
  if (eq < 0) throw new RoutingError(`rule ${quote(text)}: expected DOMAIN=URL, e.g. example.org=tcp://127.0.0.1:5222`)
  const domainText = text.slice(0, eq).trim()
  let domain: string
  if (domainText === WILDCARD) {
    domain = WILDCARD
  } else {
    const check = checkDomain(domainText)
    if (!check.ok) throw new RoutingError(`rule ${quote(text)}: ${check.reason}`)
    domain = check.domain
  }
  const target = parseTarget(text.slice(eq + 1).trim(), domain)
  if (typeof target === 'string') throw new RoutingError(`rule ${quote(text)}: ${target}`)
  return { domain, target }
}

/** `tls://xmpp.example.org:5223`, `tcp://[::1]:5222`, `srv`: the URL form, for logs. */
export function describeTarget(target: UpstreamTarget): string {
  if (target.kind === 'srv') return 'srv'
  const host = target.host.includes(':') ? `[${target.host}]` : target.host
  return `${target.kind}://${host}:${target.port}`
}

/** Domain → upstream. Exact rules win over `*`; without `*`, unknown domains are refused. */
export class RoutingTable {
  readonly rules: readonly UpstreamRule[]
  readonly #exact = new Map<string, UpstreamTarget>()
  readonly #fallback: UpstreamTarget | undefined

  /** @throws RoutingError when two rules name the same domain (after normalisation). */
  constructor(rules: readonly UpstreamRule[]) {
    let fallback: UpstreamTarget | undefined
    for (const rule of rules) {
      if (rule.domain === WILDCARD) {
        if (fallback) throw new RoutingError('duplicate rule for "*"')
        if (rule.target.kind === 'srv') throw new RoutingError('"*=srv" would relay to any XMPP server on the internet')
        fallback = rule.target
        continue
      }
      const domain = normaliseDomain(rule.domain)
      if (domain === undefined) throw new RoutingError(`rule for ${quote(rule.domain)}: not a valid domain`)
      if (this.#exact.has(domain)) throw new RoutingError(`duplicate rule for domain "${domain}"`)
      this.#exact.set(domain, rule.target)
    }
    this.#fallback = fallback
    this.rules = Object.freeze([...rules])
  }

  /**
   * Route a client's requested domain (the stream header's or BOSH body's `to`).
   * RFC 6120 §4.9.3.7 / XEP-0124 §17.2: no `to` is `improper-addressing`;
   * RFC 6120 §4.9.3.6: a domain we do not serve is `host-unknown`.
   */
  resolve(domain: string | undefined): RouteResult {
    if (domain === undefined || domain === '') {
      return { ok: false, condition: 'improper-addressing', reason: 'no target domain ("to") given' }
    }
    const check = checkDomain(domain)
    if (!check.ok) return { ok: false, condition: 'host-unknown', reason: check.reason }
    const target = this.#exact.get(check.domain) ?? this.#fallback
    if (!target) return { ok: false, condition: 'host-unknown', reason: `domain "${check.domain}" is not served here` }
    return { ok: true, domain: check.domain, target }
  }

  /** The domains named by exact rules, in configuration order. */
  get domains(): readonly string[] {
    return [...this.#exact.keys()]
  }

  /** One line for logs: `example.org → tls://xmpp.example.org:5223, * → tcp://127.0.0.1:5222`. */
  describe(): string {
    if (this.rules.length === 0) return '(no routes: every domain is refused)'
    const exact = [...this.#exact].map(([domain, target]) => `${domain} → ${describeTarget(target)}`)
    if (this.#fallback) exact.push(`* → ${describeTarget(this.#fallback)}`)
    return exact.join(', ')
  }
}
