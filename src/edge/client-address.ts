/**
 * Who the client is, when Causeway sits behind reverse proxies.
 *
 * A forwarding header is only believed when the TCP peer is a configured
 * trusted proxy. The header is then read from right to left: each entry was
 * appended by the hop in front of the previous one, so the walk goes on
 * while the entries are themselves trusted proxies and stops at the first
 * one that is not — that is the client. Anything a client writes into the
 * header sits to the left of that point and is never reached.
 *
 * Only one header is read (`forwardedHeader`): a proxy that sets
 * X-Forwarded-For usually passes a client's `Forwarded` through untouched,
 * and the other way round.
 */
import { BlockList, isIP } from 'node:net'
import type { IncomingHttpHeaders } from 'node:http'
import { canonicalAddress } from '../net/address.js'
import type { ProxiedConnection } from '../net/proxy-protocol.js'

/** Which header a trusted proxy reports the client in (option `forwardedHeader`). */
export const FORWARDED_HEADERS = ['x-forwarded-for', 'forwarded'] as const
export type ForwardedHeader = (typeof FORWARDED_HEADERS)[number]

export interface ClientView {
  /** The client's address as far as trusted hops can tell. */
  readonly address: string
  /** Whether the client's own leg used TLS (https/wss). */
  readonly secure: boolean
}

/** A request's client, plus the connection facts a PROXY protocol header needs. */
export interface ClientInfo extends ClientView {
  readonly connection: ProxiedConnection
}

/** Node's view of one HTTP request: enough to tell who sent it. */
export interface RequestLike {
  readonly headers: IncomingHttpHeaders
  readonly socket: { readonly remoteAddress?: string | undefined; readonly remotePort?: number | undefined; readonly localAddress?: string | undefined; readonly localPort?: number | undefined; readonly encrypted?: boolean } | null | undefined
}

interface Hop {
  readonly address: string
  /** `proto=` of an RFC 7239 element, lower-cased. */
  readonly proto?: string
}

export class ClientAddressPolicy {
  readonly #trusted: BlockList | undefined

  constructor(
    trustedProxies: readonly string[],
    private readonly header: ForwardedHeader = 'x-forwarded-for',
  ) {
    if (trustedProxies.length === 0) return
    const list = new BlockList()
    for (const entry of trustedProxies) {
      const [address = '', prefix] = entry.split('/')
      const type = isIP(address) === 6 ? 'ipv6' : 'ipv4'
      if (prefix === undefined) list.addAddress(address, type)
      else list.addSubnet(address, Number(prefix), type)
    }
    this.#trusted = list
  }

  /**
   * Without trusted proxies a connection's client never changes, and a BOSH
   * client sends a request per poll on the same keep-alive connection: its
   * answer is kept per socket.
   */
  readonly #bySocket = new WeakMap<object, ClientInfo>()

  /** The client of one HTTP request (WebSocket upgrade or BOSH POST). */
  describe(request: RequestLike): ClientInfo {
    const socket = request.socket
    if (this.#trusted || !socket) return this.#describe(request)
    let client = this.#bySocket.get(socket)
    if (client === undefined) {
      client = this.#describe(request)
      this.#bySocket.set(socket, client)
    }
    return client
  }

  #describe(request: RequestLike): ClientInfo {
    const socket = request.socket
    const peer = socket?.remoteAddress
    const view = this.resolve(peer, request.headers, socket?.encrypted === true)
    const fromSocket = view.address === (canonicalAddress(peer ?? '') ?? peer)
    return {
      ...view,
      connection: {
        sourceAddress: view.address,
        // A forwarding header names no port.
        sourcePort: fromSocket ? (socket?.remotePort ?? 0) : 0,
        destinationAddress: socket?.localAddress ?? '',
        destinationPort: socket?.localPort ?? 0,
      },
    }
  }

  /** `peer` is the socket's remote address; `encrypted` whether that socket is TLS. */
  resolve(peer: string | undefined, headers: IncomingHttpHeaders, encrypted: boolean): ClientView {
    const direct = { address: canonicalAddress(peer ?? '') ?? peer ?? '', secure: encrypted }
    if (!this.#isTrusted(direct.address)) return direct
    return this.header === 'forwarded' ? this.#fromForwarded(direct, headers) : this.#fromXForwardedFor(direct, headers)
  }

  #isTrusted(address: string): boolean {
    const list = this.#trusted
    if (!list) return false
    const family = isIP(address)
    return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4')
  }

  #walk(direct: ClientView, hops: readonly (Hop | undefined)[]): { address: string; hop: Hop | undefined } {
    let address = direct.address
    let chosen: Hop | undefined
    for (let i = hops.length - 1; i >= 0; i -= 1) {
      const hop = hops[i]
      // An entry we cannot read (garbage, "unknown", an obfuscated name) ends
      // the chain: the nearest address we do know stands for the client.
      if (!hop) break
      address = hop.address
      chosen = hop
      if (!this.#isTrusted(address)) break
    }
    return { address, hop: chosen }
  }

  #fromXForwardedFor(direct: ClientView, headers: IncomingHttpHeaders): ClientView {
    const entries = listValues(headers['x-forwarded-for'])
    const { address } = this.#walk(
      direct,
      entries.map((entry) => {
        const hop = canonicalAddress(stripPort(entry))
        return hop === undefined ? undefined : { address: hop }
      }),
    )
    // The nearest proxy's word on the scheme: the right-most value.
    const proto = listValues(headers['x-forwarded-proto']).at(-1)?.toLowerCase()
    return { address, secure: proto === undefined ? direct.secure : proto === 'https' || proto === 'wss' }
  }

  #fromForwarded(direct: ClientView, headers: IncomingHttpHeaders): ClientView {
    const elements = parseForwarded(headerText(headers.forwarded))
    const { address, hop } = this.#walk(direct, elements)
    const proto = hop?.proto
    return { address, secure: proto === undefined ? direct.secure : proto === 'https' || proto === 'wss' }
  }
}

function headerText(value: string | string[] | undefined): string {
  return value === undefined ? '' : Array.isArray(value) ? value.join(',') : value
}

function listValues(value: string | string[] | undefined): string[] {
  const text = headerText(value)
  return text === '' ? [] : text.split(',').map((part) => part.trim())
}

/** `192.0.2.1:8080` → `192.0.2.1`, `[2001:db8::1]:80` → `2001:db8::1`; bare IPv6 is left alone. */
function stripPort(entry: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(entry)
  if (bracketed) return bracketed[1] ?? ''
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(entry)
  return v4 ? (v4[1] ?? '') : entry
}

/**
 * RFC 7239 §4: `Forwarded: for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"`.
 * One Hop per element, left to right; undefined where `for` is missing,
 * "unknown", an obfuscated identifier or not an address.
 */
export function parseForwarded(text: string): (Hop | undefined)[] {
  const hops: (Hop | undefined)[] = []
  if (text.trim() === '') return hops
  for (const element of splitOutsideQuotes(text, ',')) {
    let address: string | undefined
    let proto: string | undefined
    let valid = true
    for (const pair of splitOutsideQuotes(element, ';')) {
      const trimmed = pair.trim()
      if (trimmed === '') continue
      const eq = trimmed.indexOf('=')
      if (eq <= 0) {
        valid = false
        continue
      }
      const name = trimmed.slice(0, eq).trim().toLowerCase()
      const value = unquote(trimmed.slice(eq + 1).trim())
      if (value === undefined) valid = false
      else if (name === 'for') address = canonicalAddress(stripPort(value))
      else if (name === 'proto') proto = value.toLowerCase()
    }
    hops.push(valid && address !== undefined ? { address, ...(proto !== undefined ? { proto } : {}) } : undefined)
  }
  return hops
}

function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = []
  let current = ''
  let quoted = false
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i] ?? ''
    if (quoted && char === '\\') {
      current += char + (text[i + 1] ?? '')
      i += 1
      continue
    }
    if (char === '"') quoted = !quoted
    if (char === separator && !quoted) {
      parts.push(current)
      current = ''
    } else {
      current += char
    }
  }
  parts.push(current)
  return parts
}

/** A token as is, a quoted-string without its quotes and escapes; undefined if malformed. */
function unquote(value: string): string | undefined {
  if (!value.startsWith('"')) return /^[!#$%&'*+\-.^_`|~0-9A-Za-z:[\]]+$/.test(value) ? value : undefined
  if (value.length < 2 || !value.endsWith('"')) return undefined
  return value.slice(1, -1).replace(/\\(.)/g, '$1')
}
