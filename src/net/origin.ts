/**
 * Web origins (RFC 6454 §6.2 ASCII serialisation: `scheme://host[:port]`),
 * as configured in `allowedOrigin` and as browsers send in the `Origin`
 * header. Both sides go through `normaliseOrigin` so they compare as strings.
 */
import { isIPv4, isIPv6 } from 'node:net'
import { checkDomain } from '../core/xmpp/domain.js'

const DEFAULT_PORT: Readonly<Record<string, string>> = { http: '80', https: '443', ws: '80', wss: '443' }

/**
 * Lowercase scheme and host, drop the scheme's default port; undefined when
 * `raw` is not an origin (a path, even `/`, credentials, query or a bad host).
 * Internationalised hosts must be in their `xn--` form, as browsers send them.
 */
export function normaliseOrigin(raw: string): string | undefined {
  const match = /^([a-z][a-z0-9+.-]*):\/\/(\[[^\]]*\]|[^:/?#@[\]]+)(?::([0-9]{1,5}))?$/i.exec(raw)
  if (!match) return undefined
  const scheme = (match[1] ?? '').toLowerCase()
  let host = (match[2] ?? '').toLowerCase()
  const port = match[3]
  if (host.startsWith('[')) {
    if (!isIPv6(host.slice(1, -1))) return undefined
  } else {
    if (!/^[\x21-\x7e]+$/.test(host)) return undefined
    if (!isIPv4(host)) {
      const check = checkDomain(host)
      if (!check.ok || check.domain !== host) return undefined
    }
  }
  if (port === undefined || port === DEFAULT_PORT[scheme]) return `${scheme}://${host}`
  const n = Number(port)
  if (n < 1 || n > 65535) return undefined
  host = `${host}:${n}`
  return `${scheme}://${host}`
}
