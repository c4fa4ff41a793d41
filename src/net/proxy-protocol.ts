/**
 * The PROXY protocol header (HAProxy's "PROXY protocol" spec, versions 1
 * and 2) that Causeway may send first on an upstream connection, so the XMPP
 * server logs and limits the real client instead of Causeway.
 *
 * Source = the client as Causeway sees it (after trusted-proxy headers);
 * destination = the Causeway listener address the client reached.
 */
import { isIP } from 'node:net'
import { canonicalAddress } from './address.js'

/** Option `upstreamProxyProtocol`. */
export const PROXY_PROTOCOL_VERSIONS = ['off', 'v1', 'v2'] as const
export type ProxyProtocolVersion = (typeof PROXY_PROTOCOL_VERSIONS)[number]

export interface ProxiedConnection {
  readonly sourceAddress: string
  /** 0 when unknown (an address taken from a forwarding header has no port). */
  readonly sourcePort: number
  readonly destinationAddress: string
  readonly destinationPort: number
}

/** v2's fixed 12-byte signature. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
const V2_PROXY_COMMAND = 0x21 // version 2, command PROXY
const V2_LOCAL_COMMAND = 0x20 // version 2, command LOCAL
const V2_TCP4 = 0x11
const V2_TCP6 = 0x21

/** The header bytes, or undefined when the protocol is off. */
export function proxyProtocolHeader(version: ProxyProtocolVersion, connection: ProxiedConnection | undefined): Buffer | undefined {
  if (version === 'off') return undefined
  const pair = connection === undefined ? undefined : sameFamily(connection.sourceAddress, connection.destinationAddress)
  if (version === 'v1') {
    // "UNKNOWN" tells the server to use the connection's own addresses.
    if (!connection || !pair) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1')
    const family = pair.family === 4 ? 'TCP4' : 'TCP6'
    return Buffer.from(`PROXY ${family} ${pair.source} ${pair.destination} ${connection.sourcePort} ${connection.destinationPort}\r\n`, 'latin1')
  }
  if (!connection || !pair) return Buffer.concat([V2_SIGNATURE, Buffer.from([V2_LOCAL_COMMAND, 0x00, 0x00, 0x00])])
  const source = addressBytes(pair.source, pair.family)
  const destination = addressBytes(pair.destination, pair.family)
  const ports = Buffer.alloc(4)
  ports.writeUInt16BE(connection.sourcePort, 0)
  ports.writeUInt16BE(connection.destinationPort, 2)
  const length = source.length + destination.length + ports.length
  const head = Buffer.from([V2_PROXY_COMMAND, pair.family === 4 ? V2_TCP4 : V2_TCP6, length >> 8, length & 0xff])
  return Buffer.concat([V2_SIGNATURE, head, source, destination, ports])
}

/** Both addresses in one family: IPv4 where both are (mapped) IPv4, IPv6 otherwise. */
function sameFamily(sourceAddress: string, destinationAddress: string): { family: 4 | 6; source: string; destination: string } | undefined {
  const source = canonicalAddress(sourceAddress)
  const destination = canonicalAddress(destinationAddress)
  if (source === undefined || destination === undefined) return undefined
  const sourceFamily = isIP(source)
  const destinationFamily = isIP(destination)
  if (sourceFamily === 4 && destinationFamily === 4) return { family: 4, source, destination }
  const asV6 = (address: string, family: number) => (family === 4 ? `::ffff:${address}` : address)
  return { family: 6, source: asV6(source, sourceFamily), destination: asV6(destination, destinationFamily) }
}

function addressBytes(address: string, family: 4 | 6): Buffer {
  if (family === 4) return Buffer.from(address.split('.').map(Number))
  return ipv6Bytes(address)
}

/** 16 bytes of an IPv6 address, including `::` and a dotted IPv4 tail. */
function ipv6Bytes(address: string): Buffer {
  const bytes = Buffer.alloc(16)
  let text = address
  const tail: number[] = []
  const dotted = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text)
  if (dotted) {
    const [a = 0, b = 0, c = 0, d = 0] = (dotted[1] ?? '').split('.').map(Number)
    tail.push((a << 8) | b, (c << 8) | d)
    text = text.slice(0, -(dotted[1] ?? '').length)
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1)
  }
  const [head = '', rest] = text.split('::')
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)))
  const left = parse(head)
  const right = [...(rest === undefined ? [] : parse(rest)), ...tail]
  const groups = rest === undefined ? [...left, ...right] : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
  groups.forEach((group, i) => bytes.writeUInt16BE(group, i * 2))
  return bytes
}
