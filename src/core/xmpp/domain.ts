/**
 * XMPP domainparts as Causeway routes them (RFC 7622 §3.2): checked and
 * normalised once, so a domain is either one we can compare exactly or a
 * refusal with a reason that names what is wrong. Pure: no DNS.
 */

export type DomainCheck = { readonly ok: true; readonly domain: string } | { readonly ok: false; readonly reason: string }

/** RFC 7622 §3.2: a domainpart is at most 1023 octets (UTF-8). */
const MAX_DOMAIN_BYTES = 1023
/** RFC 1035 §2.3.4: 63 octets per label, 255 per name (253 without the root dot and length bytes). */
const MAX_LABEL_LENGTH = 63
const MAX_ASCII_NAME_LENGTH = 253

/** A dotted-quad IPv4 address without leading zeros (as node's isIPv4 accepts). */
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/

function isIPv4Literal(value: string): boolean {
  return IPV4.test(value)
}

const utf8 = new TextEncoder()

/** Show client-supplied text in a reason without letting it run on. */
export function quote(raw: string): string {
  return JSON.stringify(raw.length > 64 ? `${raw.slice(0, 64)}…` : raw)
}

/**
 * Lowercase ASCII letters as usual and other letters with `toLowerCase`,
 * except that a non-ASCII character may not become ASCII: `K` (U+212A KELVIN
 * SIGN) → `k` or `İ` → `i̇` would let a different string match an ASCII name.
 */
function lowercaseStrict(raw: string): string | undefined {
  let out = ''
  for (const ch of raw) {
    const code = ch.codePointAt(0) ?? 0
    if (code < 0x80) {
      out += ch.toLowerCase()
      continue
    }
    const lower = ch.toLowerCase()
    if (/[\x00-\x7f]/.test(lower)) return undefined
    out += lower
  }
  return out
}

/**
 * Check and normalise an XMPP domainpart (RFC 7622 §3.2) for routing:
 * lowercase, one trailing dot stripped; a DNS name (ASCII LDH or Unicode
 * letter/digit labels, kept as given) or a dotted-quad IPv4 address.
 * Refused: empty, whitespace and control/format characters, `@`, `/`,
 * brackets (IPv6 literals are not routed), `:` (so `localhost:5222` is an
 * error, never routed as `localhost`), bad labels, over-long names.
 */
export function checkDomain(raw: string): DomainCheck {
  if (raw === '') return { ok: false, reason: 'domain is empty' }
  if (/\s/u.test(raw)) return { ok: false, reason: `domain ${quote(raw)} contains whitespace` }
  if (/[\p{Cc}\p{Cf}]/u.test(raw)) return { ok: false, reason: `domain ${quote(raw)} contains control or format characters` }
  if (raw.includes('@')) return { ok: false, reason: `domain ${quote(raw)} contains "@" (a JID, not a domain)` }
  if (raw.includes('/')) return { ok: false, reason: `domain ${quote(raw)} contains "/"` }
  if (/[[\]]/.test(raw)) return { ok: false, reason: `domain ${quote(raw)} contains brackets (IPv6 literals are not routed)` }
  if (raw.includes(':')) {
    return /:\d*$/.test(raw) && !raw.slice(0, raw.lastIndexOf(':')).includes(':')
      ? { ok: false, reason: `domain ${quote(raw)} has a port suffix (a domain names a service, not a port)` }
      : { ok: false, reason: `domain ${quote(raw)} contains ":"` }
  }
  const lower = lowercaseStrict(raw)
  if (lower === undefined) {
    return { ok: false, reason: `domain ${quote(raw)} has a non-ASCII character that lowercases to ASCII` }
  }
  const domain = lower.endsWith('.') ? lower.slice(0, -1) : lower
  if (domain === '') return { ok: false, reason: `domain ${quote(raw)} is empty without its trailing dot` }
  if (utf8.encode(domain).length > MAX_DOMAIN_BYTES) {
    return { ok: false, reason: `domain is longer than ${MAX_DOMAIN_BYTES} bytes` }
  }
  const ascii = /^[\x00-\x7f]*$/.test(domain)
  if (ascii && domain.length > MAX_ASCII_NAME_LENGTH) {
    return { ok: false, reason: `domain ${quote(raw)} is longer than ${MAX_ASCII_NAME_LENGTH} characters` }
  }
  const labels = domain.split('.')
  for (const label of labels) {
    if (label === '') return { ok: false, reason: `domain ${quote(raw)} has an empty label` }
    if ([...label].length > MAX_LABEL_LENGTH) {
      return { ok: false, reason: `domain ${quote(raw)} has a label longer than ${MAX_LABEL_LENGTH} characters` }
    }
    if (!/^[a-z0-9\-\p{L}\p{M}\p{N}]+$/u.test(label)) {
      return { ok: false, reason: `domain ${quote(raw)} has a character not allowed in a domain name` }
    }
    if (label.startsWith('-') || label.endsWith('-')) {
      return { ok: false, reason: `domain ${quote(raw)} has a label starting or ending with "-"` }
    }
    if (/^\p{M}/u.test(label)) return { ok: false, reason: `domain ${quote(raw)} has a label starting with a combining mark` }
  }
  // A numeric last label is not a DNS name (RFC 3696 §2), so it must be an IPv4 address.
  const last = labels[labels.length - 1] ?? ''
  if (/^[0-9]+$/.test(last) && !(labels.length === 4 && isIPv4Literal(domain))) {
    return { ok: false, reason: `domain ${quote(raw)} is neither a domain name nor an IPv4 address` }
  }
  return { ok: true, domain }
}

/** The normalised domainpart, or undefined when `raw` is not one we would route. */
export function normaliseDomain(raw: string): string | undefined {
  const check = checkDomain(raw)
  return check.ok ? check.domain : undefined
}
