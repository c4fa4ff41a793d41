/**
 * IP addresses as Causeway compares, counts and forwards them: one spelling
 * per address, so `::ffff:192.0.2.1` and `192.0.2.1` are the same client
 * for the per-address cap, in logs and in a PROXY protocol header.
 */
import { isIP } from 'node:net'

/** A valid IP in one spelling per address (IPv4-mapped IPv6 as plain IPv4, IPv6 lower-case), or undefined. */
export function canonicalAddress(value: string): string | undefined {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(value)
  const address = mapped ? (mapped[1] ?? '') : value
  const family = isIP(address)
  if (family === 0) return undefined
  return family === 6 ? address.toLowerCase() : address
}
