/**
 * Every configuration option in one table: type, default (unit in the key:
 * `…Ms` milliseconds, `…Bytes` bytes, `…Seconds` seconds), bounds, and one
 * line on what it does or protects. The loader, `--help` and
 * docs/configuration.md are all derived from this table.
 */
import { isIP } from 'node:net'
import { checkDomain } from '../core/xmpp/domain.js'
import { FORWARDED_HEADERS } from '../edge/client-address.js'
import type { ForwardedHeader } from '../edge/client-address.js'
import { normaliseOrigin } from '../net/origin.js'
import { PROXY_PROTOCOL_VERSIONS } from '../net/proxy-protocol.js'
import type { ProxyProtocolVersion } from '../net/proxy-protocol.js'
import { parseUpstream, RoutingError } from '../upstream/routing.js'
import type { RoutingTable } from '../upstream/routing.js'

/** pino's levels, plus `silent`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** The option values as every source gives them, before `upstream` is parsed into a table. */
export interface ConfigValues {
  readonly host: string
  readonly port: number
  readonly websocketPath: string
  readonly boshPath: string
  /** '' or an http(s) URL prefix under which clients reach this listener. */
  readonly publicUrl: string
  /** `DOMAIN=URL` rules, see src/upstream/routing.ts. */
  readonly upstream: readonly string[]
  readonly upstreamCaFile: string | undefined
  readonly upstreamConnectTimeoutMs: number
  /** Normalised origins (`https://example.org`), or `['*']`; empty = any origin. */
  readonly allowedOrigin: readonly string[]
  readonly maxStanzaBytes: number
  readonly maxXmlDepth: number
  readonly maxXmlAttributes: number
  readonly maxAttributeValueBytes: number
  readonly openTimeoutMs: number
  readonly wsPingIntervalMs: number
  readonly wsCloseTimeoutMs: number
  readonly writeBufferHighWaterBytes: number
  readonly drainTimeoutMs: number
  readonly shutdownDrainMs: number
  readonly shutdownTimeoutMs: number
  readonly logLevel: LogLevel
  readonly boshMaxWaitMs: number
  readonly boshMaxHold: number
  readonly boshMaxRequests: number
  readonly boshInactivityMs: number
  readonly boshMaxPauseMs: number
  readonly boshPollingMs: number
  readonly boshCoalesceMs: number
  readonly boshMaxBodyBytes: number
  readonly maxSessions: number
  readonly maxSessionsPerIp: number
  readonly preAuthTimeoutMs: number
  readonly corsMaxAgeSeconds: number
  readonly corsAllowCredentials: boolean
  /** '' or `[a-z0-9-]{1,16}`. */
  readonly nodeId: string
  /** PEM certificate chain and key for https/wss on the listener; both or neither. */
  readonly tlsCert: string | undefined
  readonly tlsKey: string | undefined
  /** Addresses or CIDR blocks whose forwarding headers are believed. */
  readonly trustedProxy: readonly string[]
  readonly forwardedHeader: ForwardedHeader
  readonly upstreamProxyProtocol: ProxyProtocolVersion
  /** Serve the Converse.js demo page at /demo. */
  readonly demo: boolean
  /** Wait for upstream health before /readyz says ready. */
  readonly readyRequiresUpstream: boolean
  readonly upstreamProbeIntervalMs: number
  /** The admin listener: 0 = none. */
  readonly adminHost: string
  readonly adminPort: number
  /** Bearer token for /admin/*; never logged. */
  readonly adminToken: string | undefined
  readonly adminTokenFile: string | undefined
  /** Also serve /metrics on the public listener. */
  readonly publicMetrics: boolean
  readonly prebindMaxPerSecond: number
  /** The bound JID in the session-ended line (personal data). */
  readonly logJid: boolean
  readonly logRepeatIntervalMs: number
  /** `NODE=URL` entries: where each other node's BOSH requests are forwarded (src/cluster/peers.ts). */
  readonly peers: readonly string[]
  /** Shared secret for the forwarding proof; never logged, never sent. */
  readonly peerSecret: string | undefined
  /** On shutdown, end client sessions with a transient error but keep the server's streams resumable (XEP-0198). */
  readonly shutdownHandoff: boolean
  /** '' or an http(s) URL prefix where the service now lives: new sessions are redirected there. */
  readonly seeOtherUri: string
}


export type OptionKey = keyof ConfigValues

/** The validated configuration: immutable, with `upstream` already a routing table. */
export interface Config extends Omit<ConfigValues, 'upstream'> {
  readonly upstream: RoutingTable
}

export const OPTION_GROUPS = [
  'Listener',
  'TLS and proxies',
  'Upstream',
  'Browsers (CORS and origins)',
  'XML limits',
  'WebSocket',
  'Flow control and shutdown',
  'BOSH',
  'Sessions',
  'Admin and monitoring',
  'Cluster',
  'Logging',
] as const
export type OptionGroup = (typeof OPTION_GROUPS)[number]

export type IntegerUnit = 'ms' | 'bytes' | 'seconds' | 'count'

interface OptionCommon {
  readonly group: OptionGroup
  /** One line: what the option does, or what its bound protects. */
  readonly description: string
  /** The value is a secret: error messages and help never show it. */
  readonly secret?: true
  /** The command-line flag when it is not the key in kebab case (a list named in the plural takes a singular, repeatable flag). */
  readonly flag?: string
}

/**
 * A string check: the normalised value, or why it is not acceptable
 * (`quotesValue` when the problem text already shows the value).
 */
export type Check = (value: string) => { readonly value: string } | { readonly problem: string; readonly quotesValue?: boolean }

export interface IntegerOption extends OptionCommon {
  readonly kind: 'integer'
  readonly default: number
  readonly min: number
  readonly max: number
  /** When set, the value must be a multiple of this (BOSH attributes travel in whole seconds). */
  readonly multipleOf?: number
  readonly unit: IntegerUnit
}

export interface BooleanOption extends OptionCommon {
  readonly kind: 'boolean'
  readonly default: boolean
}

export interface StringOption extends OptionCommon {
  readonly kind: 'string'
  readonly default: string
  /** For help text: `<path>`. */
  readonly placeholder: string
  /** The rule in words, for the docs table. */
  readonly allowed: string
  readonly check: Check
}

export interface OptionalStringOption extends OptionCommon {
  readonly kind: 'optional-string'
  readonly default: undefined
  readonly placeholder: string
  readonly allowed: string
  readonly check: Check
}

export interface EnumOption<T extends string = string> extends OptionCommon {
  readonly kind: 'enum'
  readonly default: T
  readonly values: readonly T[]
}

/** Repeatable: several flags, a comma-separated env var, or a JSON array. A higher source replaces a lower one's list. */
export interface ListOption extends OptionCommon {
  readonly kind: 'list'
  readonly default: readonly string[]
  readonly placeholder: string
  readonly allowed: string
  /** Fewest items accepted from any source. */
  readonly minItems: number
  readonly check: Check
}

export type AnyOption = IntegerOption | BooleanOption | StringOption | OptionalStringOption | EnumOption | ListOption

/** The spec kind each value type needs, so the table below cannot disagree with `ConfigValues`. */
type OptionFor<T> = [T] extends [number]
  ? IntegerOption
  : [T] extends [boolean]
    ? BooleanOption
    : [T] extends [readonly string[]]
      ? ListOption
      : [undefined] extends [T]
        ? OptionalStringOption
        : [T] extends [string]
          ? string extends T
            ? StringOption
            : EnumOption<T>
          : never

export type OptionTable = { readonly [K in OptionKey]: OptionFor<ConfigValues[K]> }

const ok = (value: string) => ({ value })
const problem = (text: string) => ({ problem: text })

const checkListenHost: Check = (value) => {
  if (isIP(value) !== 0) return ok(value)
  if (value.startsWith('[')) return problem('must be an IP address or hostname (write IPv6 without brackets, e.g. ::1)')
  const check = checkDomain(value)
  if (/^[\x21-\x7e]+$/.test(value) && check.ok) return ok(check.domain)
  return problem('must be an IP address or hostname')
}

const checkPath: Check = (value) =>
  /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]{0,255}$/.test(value)
    ? ok(value)
    : problem('must be a URL path starting with "/" (at most 256 characters, no spaces, query or fragment)')

const checkUpstream: Check = (value) => {
  try {
    parseUpstream(value)
    return ok(value.trim())
  } catch (err) {
    if (err instanceof RoutingError) return { problem: err.message, quotesValue: true }
    throw err
  }
}

const checkOrigin: Check = (value) => {
  if (value === '*') return ok(value)
  const origin = normaliseOrigin(value)
  return origin === undefined
    ? problem('must be an origin scheme://host[:port] (no path, not even "/") or "*"')
    : ok(origin)
}

const checkCaFile: Check = (value) => (value !== '' && !value.includes('\0') ? ok(value) : problem('must be a file path'))

const checkPublicUrl: Check = (value) => {
  if (value === '') return ok(value)
  try {
    const url = new URL(value)
    if ((url.protocol === 'http:' || url.protocol === 'https:') && url.search === '' && url.hash === '' && url.username === '' && url.password === '') {
      return ok(url.href.replace(/\/$/, ''))
    }
  } catch {
    // fall through to the problem below
  }
  return problem('must be empty or an http(s) URL without query, fragment or credentials, e.g. https://chat.example.org')
}

const checkPemFile: Check = (value) => (value !== '' && !value.includes('\0') ? ok(value) : problem('must be a path to a PEM file'))

/** An address (`192.0.2.1`, `::1`) or a CIDR block (`10.0.0.0/8`, `fd00::/8`). */
const checkProxyAddress: Check = (value) => {
  const [address = '', prefix, ...rest] = value.split('/')
  const family = isIP(address)
  if (family === 0 || rest.length > 0) return problem('must be an IP address or a CIDR block such as 10.0.0.0/8 or fd00::/8')
  if (prefix === undefined) return ok(address)
  const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN
  if (!(bits >= 0 && bits <= (family === 4 ? 32 : 128))) return problem(`prefix length must be 0 to ${family === 4 ? 32 : 128}`)
  return ok(`${address}/${bits}`)
}

/**
 * RFC 6750 §2.1 b64token, long enough to be unguessable. The problem text
 * never repeats the value (`quotesValue`): a token must not reach a terminal or a log.
 */
const checkToken: Check = (value) =>
  /^[A-Za-z0-9\-._~+/]{24,512}=*$/.test(value)
    ? ok(value)
    : { problem: 'must be 24 to 512 characters from A-Z a-z 0-9 - . _ ~ + / (e.g. `openssl rand -base64 32`); the value is not shown', quotesValue: true }

const checkNodeId: Check = (value) =>
  /^(?:[a-z0-9-]{1,16})?$/.test(value) ? ok(value) : problem('must be empty or 1 to 16 characters from [a-z0-9-]')

/** `node2=http://10.0.0.12:5280`: a node label and the origin its listener is reached at (same boshPath everywhere). */
const checkPeer: Check = (value) => {
  const eq = value.indexOf('=')
  const label = value.slice(0, eq)
  if (eq <= 0 || !/^[a-z0-9-]{1,16}$/.test(label)) return problem('must be NODE=URL with NODE from [a-z0-9-]{1,16}, e.g. node2=http://10.0.0.12:5280')
  try {
    const url = new URL(value.slice(eq + 1))
    if ((url.protocol === 'http:' || url.protocol === 'https:') && (url.pathname === '/' || url.pathname === '') && url.search === '' && url.hash === '' && url.username === '' && url.password === '') {
      return ok(`${label}=${url.origin}`)
    }
  } catch {
    // fall through to the problem below
  }
  return problem(`must be NODE=URL with an http(s) origin and no path, e.g. ${label}=http://10.0.0.12:5280`)
}

/** Long enough that guessing is hopeless; the length in characters. */
export const MIN_PEER_SECRET_CHARS = 32

const checkPeerSecret: Check = (value) =>
  [...value].length >= MIN_PEER_SECRET_CHARS && [...value].length <= 1024 && !/^\s|\s$/.test(value)
    ? ok(value)
    : problem(`must be ${MIN_PEER_SECRET_CHARS} to 1024 characters without leading or trailing spaces (e.g. openssl rand -base64 33)`)

/** The label of a `peers` entry. */
export function peerLabel(entry: string): string {
  return entry.slice(0, entry.indexOf('='))
}

const KIB = 1024
const MIB = 1024 * KIB
const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE

export const OPTIONS: OptionTable = {
  host: {
    group: 'Listener',
    kind: 'string',
    default: '127.0.0.1',
    placeholder: '<address>',
    allowed: 'IP address or hostname',
    check: checkListenHost,
    description: 'Address the HTTP listener binds to; keep it on loopback behind a TLS-terminating proxy.',
  },
  port: {
    group: 'Listener',
    kind: 'integer',
    default: 5280,
    min: 0,
    max: 65535,
    unit: 'count',
    description: 'TCP port of the HTTP listener; 0 lets the OS pick one.',
  },
  websocketPath: {
    group: 'Listener',
    kind: 'string',
    default: '/xmpp-websocket',
    placeholder: '<path>',
    allowed: 'URL path starting with `/`',
    check: checkPath,
    description: 'HTTP path of the RFC 7395 WebSocket endpoint.',
  },
  boshPath: {
    group: 'Listener',
    kind: 'string',
    default: '/http-bind',
    placeholder: '<path>',
    allowed: 'URL path starting with `/`',
    check: checkPath,
    description: 'HTTP path of the XEP-0124/XEP-0206 BOSH endpoint.',
  },
  publicUrl: {
    group: 'Listener',
    kind: 'string',
    default: '',
    placeholder: '<url>',
    allowed: 'empty, or an `http(s)://` URL prefix',
    check: checkPublicUrl,
    description:
      'Where clients reach this listener (e.g. behind a TLS proxy), for the XEP-0156 /.well-known/host-meta links; empty derives it from each request.',
  },
  tlsCert: {
    group: 'TLS and proxies',
    kind: 'optional-string',
    default: undefined,
    placeholder: '<path>',
    allowed: 'path to a PEM certificate chain',
    check: checkPemFile,
    description: 'Serve https and wss with this certificate chain (leaf first); reloaded on SIGHUP without dropping sessions. Needs tlsKey.',
  },
  tlsKey: {
    group: 'TLS and proxies',
    kind: 'optional-string',
    default: undefined,
    placeholder: '<path>',
    allowed: 'path to a PEM private key',
    check: checkPemFile,
    description: 'Private key for tlsCert; reloaded on SIGHUP together with it.',
  },
  trustedProxy: {
    group: 'TLS and proxies',
    kind: 'list',
    default: [],
    placeholder: '<cidr>',
    allowed: 'IP address or CIDR block',
    minItems: 0,
    check: checkProxyAddress,
    description:
      'Reverse proxies whose forwarding header (see forwardedHeader) and X-Forwarded-Proto are believed; the client address they report is logged and counted for maxSessionsPerIp. Headers from anyone else are ignored.',
  },
  forwardedHeader: {
    group: 'TLS and proxies',
    kind: 'enum',
    default: 'x-forwarded-for',
    values: FORWARDED_HEADERS,
    description:
      'Which header a trusted proxy uses to report the client: X-Forwarded-For (+ X-Forwarded-Proto) or RFC 7239 Forwarded. Only one is read, because a proxy that sets one usually passes a client-forged copy of the other through.',
  },
  upstreamProxyProtocol: {
    group: 'Upstream',
    kind: 'enum',
    default: 'off',
    values: PROXY_PROTOCOL_VERSIONS,
    description:
      'Send a PROXY protocol header (HAProxy v1 text or v2 binary) first on each upstream connection, so the XMPP server sees the client address; the server must expect it (ejabberd use_proxy_protocol, Prosody mod_net_proxy).',
  },
  upstream: {
    group: 'Upstream',
    kind: 'list',
    default: ['*=tcp://127.0.0.1:5222'],
    placeholder: '<DOMAIN=URL>',
    allowed: '`DOMAIN=URL` rule',
    minItems: 1,
    check: checkUpstream,
    description:
      'Where each client domain is relayed; only listed domains (or the one `*` server) are reachable, so Causeway is never an open relay.',
  },
  upstreamCaFile: {
    group: 'Upstream',
    kind: 'optional-string',
    default: undefined,
    placeholder: '<path>',
    allowed: 'path to a PEM file',
    check: checkCaFile,
    description: 'PEM CA bundle that replaces the system CAs for verifying upstream TLS certificates; unset = system CAs.',
  },
  upstreamConnectTimeoutMs: {
    group: 'Upstream',
    kind: 'integer',
    default: 10 * SECOND,
    min: 100,
    max: 5 * MINUTE,
    unit: 'ms',
    description: 'Time allowed to reach the upstream server (DNS, TCP, TLS) before the session fails with remote-connection-failed.',
  },
  allowedOrigin: {
    group: 'Browsers (CORS and origins)',
    kind: 'list',
    default: [],
    placeholder: '<origin>',
    allowed: 'origin `scheme://host[:port]`, or `*`',
    minItems: 0,
    check: checkOrigin,
    description:
      'Browser Origins allowed to open sessions (empty = any); stops other web sites from using visitors’ browsers to reach your server.',
  },
  corsMaxAgeSeconds: {
    group: 'Browsers (CORS and origins)',
    kind: 'integer',
    default: 86400,
    min: 0,
    max: 86400,
    unit: 'seconds',
    description: 'How long browsers may cache a BOSH CORS preflight answer (Access-Control-Max-Age).',
  },
  corsAllowCredentials: {
    group: 'Browsers (CORS and origins)',
    kind: 'boolean',
    default: false,
    description: 'Send Access-Control-Allow-Credentials: true on BOSH responses; requires an explicit allowedOrigin list.',
  },
  maxStanzaBytes: {
    group: 'XML limits',
    kind: 'integer',
    default: 256 * KIB,
    min: 10000,
    max: 16 * MIB,
    unit: 'bytes',
    description: 'Largest stanza (top-level element) accepted on any stream; bounds parser memory per stream (RFC 6120 §13.12 asks for at least 10000).',
  },
  maxXmlDepth: {
    group: 'XML limits',
    kind: 'integer',
    default: 64,
    min: 4,
    max: 1024,
    unit: 'count',
    description: 'Deepest element nesting accepted, the stream root counting as 1; bounds parser work and memory.',
  },
  maxXmlAttributes: {
    group: 'XML limits',
    kind: 'integer',
    default: 64,
    min: 16,
    max: 1024,
    unit: 'count',
    description: 'Most attributes accepted on one element; bounds per-element memory and lookup work.',
  },
  maxAttributeValueBytes: {
    group: 'XML limits',
    kind: 'integer',
    default: 64 * KIB,
    min: 1024,
    max: 16 * MIB,
    unit: 'bytes',
    description: 'Largest attribute value accepted, as written; bounds memory held by one attribute.',
  },
  openTimeoutMs: {
    group: 'WebSocket',
    kind: 'integer',
    default: 10 * SECOND,
    min: SECOND,
    max: 5 * MINUTE,
    unit: 'ms',
    description:
      'An upgraded WebSocket that sends no `<open/>` within this time gets a connection-timeout stream error and is closed; bounds connections (and per-address slots) held by clients that never start a stream.',
  },
  wsPingIntervalMs: {
    group: 'WebSocket',
    kind: 'integer',
    default: 30 * SECOND,
    min: 0,
    max: HOUR,
    unit: 'ms',
    description: 'Send a WebSocket ping this often to find dead peers and keep proxies from idling the connection out; 0 disables.',
  },
  wsCloseTimeoutMs: {
    group: 'WebSocket',
    kind: 'integer',
    default: 5 * SECOND,
    min: 100,
    max: MINUTE,
    unit: 'ms',
    description: 'After our WebSocket close frame, wait this long for the peer’s close frame before dropping the TCP connection.',
  },
  writeBufferHighWaterBytes: {
    group: 'Flow control and shutdown',
    kind: 'integer',
    default: MIB,
    min: 16 * KIB,
    max: 1024 * MIB,
    unit: 'bytes',
    description: 'Output queued for one side above which reading from the other side pauses (backpressure); bounds memory per session.',
  },
  drainTimeoutMs: {
    group: 'Flow control and shutdown',
    kind: 'integer',
    default: 30 * SECOND,
    min: SECOND,
    max: 10 * MINUTE,
    unit: 'ms',
    description: 'A peer whose queued output does not drain within this time is closed; protects against readers that never read.',
  },
  shutdownDrainMs: {
    group: 'Flow control and shutdown',
    kind: 'integer',
    default: 0,
    min: 0,
    max: 10 * MINUTE,
    unit: 'ms',
    description:
      'On shutdown, how long open sessions keep running (while /readyz says not ready and new sessions are refused) before they are ended; lets a load balancer move clients away first.',
  },
  shutdownTimeoutMs: {
    group: 'Flow control and shutdown',
    kind: 'integer',
    default: 10 * SECOND,
    min: 0,
    max: 10 * MINUTE,
    unit: 'ms',
    description: 'On shutdown, time sessions get to close with system-shutdown before the rest are dropped.',
  },
  boshMaxWaitMs: {
    group: 'BOSH',
    kind: 'integer',
    default: MINUTE,
    min: SECOND,
    max: 10 * MINUTE,
    multipleOf: SECOND,
    unit: 'ms',
    description: 'Cap on the client’s `wait`: longest a BOSH request is held open empty; keep below proxy idle timeouts.',
  },
  boshMaxHold: {
    group: 'BOSH',
    kind: 'integer',
    default: 1,
    min: 0,
    max: 16,
    unit: 'count',
    description: 'Cap on the client’s `hold`: most BOSH requests kept waiting per session.',
  },
  boshMaxRequests: {
    group: 'BOSH',
    kind: 'integer',
    default: 2,
    min: 1,
    max: 17,
    unit: 'count',
    description: 'The `requests` attribute: most simultaneous BOSH requests per session; more is overactivity (policy-violation).',
  },
  boshInactivityMs: {
    group: 'BOSH',
    kind: 'integer',
    default: MINUTE,
    min: SECOND,
    max: HOUR,
    multipleOf: SECOND,
    unit: 'ms',
    description: 'The `inactivity` attribute: a BOSH session with no request in flight for this long is ended.',
  },
  boshMaxPauseMs: {
    group: 'BOSH',
    kind: 'integer',
    default: 2 * MINUTE,
    min: 0,
    max: HOUR,
    multipleOf: SECOND,
    unit: 'ms',
    description: 'The `maxpause` attribute: longest pause a client may request (XEP-0124 §10); 0 disables pausing.',
  },
  boshPollingMs: {
    group: 'BOSH',
    kind: 'integer',
    default: 2 * SECOND,
    min: 0,
    max: MINUTE,
    multipleOf: SECOND,
    unit: 'ms',
    description: 'The `polling` attribute: shortest interval between empty polling requests; faster polling is overactivity.',
  },
  boshCoalesceMs: {
    group: 'BOSH',
    kind: 'integer',
    default: 0,
    min: 0,
    max: SECOND,
    unit: 'ms',
    description:
      'After the first stanza for a held request, wait this long to send more stanzas in the same response. 0: answer at the end of the server read that brought them (a burst that arrives in one read is still one response).',
  },
  boshMaxBodyBytes: {
    group: 'BOSH',
    kind: 'integer',
    default: 300000,
    min: 10000,
    max: 64 * MIB,
    unit: 'bytes',
    description: 'Largest BOSH HTTP request body accepted; larger is refused before it is parsed.',
  },
  maxSessions: {
    group: 'Sessions',
    kind: 'integer',
    default: 10000,
    min: 1,
    max: 10_000_000,
    unit: 'count',
    description: 'Most concurrent client sessions (BOSH and WebSocket); new ones are refused above it to protect memory and the upstream.',
  },
  maxSessionsPerIp: {
    group: 'Sessions',
    kind: 'integer',
    default: 50,
    min: 1,
    max: 10_000_000,
    unit: 'count',
    description: 'Most concurrent sessions from one client IP address; stops one host from taking every session.',
  },
  preAuthTimeoutMs: {
    group: 'Sessions',
    kind: 'integer',
    default: MINUTE,
    min: SECOND,
    max: HOUR,
    unit: 'ms',
    description:
      'A session whose client has not authenticated (SASL or SASL2 success) within this time of opening its stream is closed with policy-violation; bounds idle unauthenticated sessions.',
  },
  nodeId: {
    group: 'Sessions',
    kind: 'string',
    default: '',
    placeholder: '<label>',
    allowed: 'empty, or `[a-z0-9-]{1,16}`',
    check: checkNodeId,
    description: 'Label prefixed to session ids as `NODE.` so a load balancer can send a session’s requests back to this node.',
  },
  readyRequiresUpstream: {
    group: 'Upstream',
    kind: 'boolean',
    default: false,
    description:
      '/readyz answers 503 while no configured upstream accepts TCP connections (probed every upstreamProbeIntervalMs, and judged from real sessions), so a load balancer sends new sessions to a node that can serve them.',
  },
  upstreamProbeIntervalMs: {
    group: 'Upstream',
    kind: 'integer',
    default: 10 * SECOND,
    min: SECOND,
    max: 10 * MINUTE,
    unit: 'ms',
    description: 'With readyRequiresUpstream: how often each configured upstream is probed with a TCP connection.',
  },
  adminHost: {
    group: 'Admin and monitoring',
    kind: 'string',
    default: '127.0.0.1',
    placeholder: '<address>',
    allowed: 'IP address or hostname',
    check: checkListenHost,
    description: 'Address of the admin listener; keep it on loopback or a private network (it serves personal data and, with adminToken, actions).',
  },
  adminPort: {
    group: 'Admin and monitoring',
    kind: 'integer',
    default: 0,
    min: 0,
    max: 65535,
    unit: 'count',
    description: 'Port of a second listener for /metrics, /status, /healthz, /readyz and the admin API (/admin/*); 0 = no admin listener.',
  },
  adminToken: {
    group: 'Admin and monitoring',
    kind: 'optional-string',
    default: undefined,
    placeholder: '<token>',
    allowed: '24–512 characters of an RFC 6750 token',
    check: checkToken,
    secret: true,
    description:
      'Bearer token required by the admin API and prebind (Authorization: Bearer …), compared in constant time and never logged; unset = the admin API is off. Prefer the environment or adminTokenFile to a flag (flags show in ps).',
  },
  adminTokenFile: {
    group: 'Admin and monitoring',
    kind: 'optional-string',
    default: undefined,
    placeholder: '<path>',
    allowed: 'path to a file holding the token',
    check: checkPemFile,
    description: 'Read adminToken from this file at start-up (Docker secrets, systemd LoadCredential); surrounding whitespace is ignored.',
  },
  publicMetrics: {
    group: 'Admin and monitoring',
    kind: 'boolean',
    default: true,
    description: 'Also serve /metrics on the public listener. Set false once Prometheus scrapes the admin listener, so the public port serves XMPP only.',
  },
  prebindMaxPerSecond: {
    group: 'Admin and monitoring',
    kind: 'integer',
    default: 20,
    min: 1,
    max: 10000,
    unit: 'count',
    description: 'Most POST /admin/prebind requests started per second (a burst of as many is allowed); more get 429. Bounds the logins a leaked token can try.',
  },
  peers: {
    group: 'Cluster',
    kind: 'list',
    default: [],
    placeholder: '<NODE=URL>',
    allowed: '`NODE=URL`: a node label and its http(s) origin',
    minItems: 0,
    flag: '--peer',
    check: checkPeer,
    description:
      'The other nodes, for balancers that cannot route on the BOSH body: a request whose sid carries one of these labels is forwarded to that node over a kept-alive connection (an entry for this node itself is ignored). Needs nodeId and peerSecret.',
  },
  peerSecret: {
    group: 'Cluster',
    kind: 'optional-string',
    default: undefined,
    secret: true,
    placeholder: '<secret>',
    allowed: `${MIN_PEER_SECRET_CHARS} to 1024 characters`,
    check: checkPeerSecret,
    description:
      'Shared by all nodes: keys the HMAC proof that lets a peer pass on the client address and scheme of a forwarded request. Never sent, never logged; required with peers.',
  },
  shutdownHandoff: {
    group: 'Flow control and shutdown',
    kind: 'boolean',
    default: false,
    description:
      'On shutdown (after shutdownDrainMs), drop each upstream connection without closing its XMPP stream, so the server keeps XEP-0198 sessions, and tell clients to reconnect (WebSocket close 1012, BOSH system-shutdown); clients with stream management resume on another node.',
  },
  seeOtherUri: {
    group: 'Cluster',
    kind: 'string',
    default: '',
    placeholder: '<url>',
    allowed: 'empty, or an `http(s)://` URL prefix',
    check: checkPublicUrl,
    description:
      'The service has moved here: every new WebSocket `<open/>` gets `<close see-other-uri>` (ws(s) URL + websocketPath, RFC 7395 §3.6.1) and every new BOSH session `see-other-uri` (URL + boshPath, XEP-0124 §17.2); open sessions carry on.',
  },
  demo: {
    group: 'Listener',
    kind: 'boolean',
    default: false,
    description: 'Serve a Converse.js demo client at /demo (needs the converse.js package installed beside Causeway); for trying Causeway out, not for production.',
  },
  logLevel: {
    group: 'Logging',
    kind: 'enum',
    default: 'info',
    values: LOG_LEVELS,
    description: 'Least severe pino level that is logged; `silent` logs nothing.',
  },
  logJid: {
    group: 'Logging',
    kind: 'boolean',
    default: false,
    description: 'Put the bound JID in the one `session ended` line per session. A JID is personal data: enable it only where your privacy policy allows.',
  },
  logRepeatIntervalMs: {
    group: 'Logging',
    kind: 'integer',
    default: MINUTE,
    min: SECOND,
    max: HOUR,
    unit: 'ms',
    description: 'Warnings that would repeat per session or request (an upstream failing, a refused Origin, a full server) are logged once per cause per interval, with the number of repeats.',
  },
}

/** The option keys in table order. */
export const OPTION_KEYS = Object.keys(OPTIONS) as OptionKey[]

export function optionSpec(key: OptionKey): AnyOption {
  return OPTIONS[key]
}

/** `maxStanzaBytes` → `--max-stanza-bytes` */
export function flagName(key: OptionKey): string {
  return OPTIONS[key].flag ?? `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`
}

/** `maxStanzaBytes` → `CAUSEWAY_MAX_STANZA_BYTES` */
export function envName(key: OptionKey): string {
  return `CAUSEWAY_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`
}

const UNIT_WORD: Readonly<Record<IntegerUnit, string>> = {
  ms: ' milliseconds',
  bytes: ' bytes',
  seconds: ' seconds',
  count: '',
}

/** `must be an integer between 0 and 65535`, with the unit when there is one. */
export function integerBound(spec: IntegerOption): string {
  const multiple = spec.multipleOf === undefined ? '' : `, a multiple of ${spec.multipleOf}`
  return `must be an integer between ${spec.min} and ${spec.max}${UNIT_WORD[spec.unit]}${multiple}`
}

/** The flag and environment variable that name the config file. */
export const CONFIG_FLAG = '--config'
export const CONFIG_ENV = 'CAUSEWAY_CONFIG'

/**
 * Relations between options, checked after all sources are merged. `key` is
 * the option the message blames; `rule` is the bound in words (also in the docs).
 */
export interface CrossCheck {
  readonly key: OptionKey
  readonly others: readonly OptionKey[]
  readonly rule: string
  readonly why: string
  readonly holds: (v: ConfigValues) => boolean
}

export const CROSS_CHECKS: readonly CrossCheck[] = [
  {
    key: 'tlsKey',
    others: ['tlsCert'],
    rule: 'must be set together with tlsCert',
    why: 'a TLS listener needs both its certificate and its private key',
    holds: (v) => (v.tlsCert === undefined) === (v.tlsKey === undefined),
  },
  {
    key: 'boshMaxRequests',
    others: ['boshMaxHold'],
    rule: 'must be greater than boshMaxHold',
    why: 'XEP-0124 §11: with every allowed request held, the client must still be able to send one',
    holds: (v) => v.boshMaxRequests > v.boshMaxHold,
  },
  {
    key: 'maxStanzaBytes',
    others: ['boshMaxBodyBytes'],
    rule: 'must be at most boshMaxBodyBytes',
    why: 'a stanza the XML limits accept must fit in one BOSH body',
    holds: (v) => v.maxStanzaBytes <= v.boshMaxBodyBytes,
  },
  {
    key: 'maxAttributeValueBytes',
    others: ['maxStanzaBytes'],
    rule: 'must be at most maxStanzaBytes',
    why: 'an attribute lives inside a stanza',
    holds: (v) => v.maxAttributeValueBytes <= v.maxStanzaBytes,
  },
  {
    key: 'wsPingIntervalMs',
    others: [],
    rule: 'must be 0 (disabled) or at least 1000',
    why: 'pings more often than once a second only cost bandwidth',
    holds: (v) => v.wsPingIntervalMs === 0 || v.wsPingIntervalMs >= 1000,
  },
  {
    key: 'boshMaxPauseMs',
    others: ['boshInactivityMs'],
    rule: 'must be 0 (disabled) or at least boshInactivityMs',
    why: 'XEP-0124 §10: a pause exists to outlast the inactivity period',
    holds: (v) => v.boshMaxPauseMs === 0 || v.boshMaxPauseMs >= v.boshInactivityMs,
  },
  {
    key: 'boshPollingMs',
    others: ['boshInactivityMs'],
    rule: 'must be less than boshInactivityMs',
    why: 'a client polling as slowly as allowed must not time out between polls',
    holds: (v) => v.boshPollingMs < v.boshInactivityMs,
  },
  {
    key: 'maxSessionsPerIp',
    others: ['maxSessions'],
    rule: 'must be at most maxSessions',
    why: 'a per-address limit above the total limit means nothing',
    holds: (v) => v.maxSessionsPerIp <= v.maxSessions,
  },
  {
    key: 'boshPath',
    others: ['websocketPath'],
    rule: 'must differ from websocketPath',
    why: 'each transport needs its own endpoint',
    holds: (v) => v.boshPath !== v.websocketPath,
  },
  {
    key: 'allowedOrigin',
    others: [],
    rule: 'must not combine "*" with other origins',
    why: '"*" already allows every origin, so the list would be misleading',
    holds: (v) => !v.allowedOrigin.includes('*') || v.allowedOrigin.length === 1,
  },
  {
    key: 'adminTokenFile',
    others: ['adminToken'],
    rule: 'must not be set together with adminToken',
    why: 'one token, from one place',
    holds: (v) => v.adminToken === undefined || v.adminTokenFile === undefined,
  },
  {
    key: 'adminToken',
    others: ['adminPort'],
    rule: 'needs adminPort (the admin API lives on the admin listener only)',
    why: 'a token for an API that is not served is a mistake worth hearing about',
    holds: (v) => (v.adminToken === undefined && v.adminTokenFile === undefined) || v.adminPort !== 0,
  },
  {
    key: 'publicMetrics',
    others: ['adminPort'],
    rule: 'may be false only with adminPort set',
    why: '/metrics must be served somewhere',
    holds: (v) => v.publicMetrics || v.adminPort !== 0,
  },
  {
    key: 'adminPort',
    others: ['port'],
    rule: 'must differ from port',
    why: 'the admin listener is a second listener',
    holds: (v) => v.adminPort === 0 || v.adminPort !== v.port,
  },
  {
    key: 'nodeId',
    others: ['peers'],
    rule: 'must be set when peers is',
    why: 'forwarding is decided by the node label in each sid, so this node needs one',
    holds: (v) => v.peers.length === 0 || v.nodeId !== '',
  },
  {
    key: 'peers',
    others: [],
    rule: 'must name each node once',
    why: 'one label, one address: two entries for a label would make forwarding depend on their order',
    holds: (v) => new Set(v.peers.map(peerLabel)).size === v.peers.length,
  },
  {
    key: 'peerSecret',
    others: ['peers'],
    rule: 'must be set when peers is',
    why: 'forwarded requests carry the client address only under a proof keyed with it',
    holds: (v) => v.peers.length === 0 || v.peerSecret !== undefined,
  },
  {
    key: 'seeOtherUri',
    others: ['tlsCert', 'publicUrl'],
    rule: 'must be https:// when tlsCert is set or publicUrl is https://',
    why: 'RFC 7395 §3.6.1 and XEP-0124 §17.2: clients must not be sent from wss/https to ws/http (Strophe.js refuses such a redirect)',
    holds: (v) => !v.seeOtherUri.startsWith('http:') || (v.tlsCert === undefined && !v.publicUrl.startsWith('https:')),
  },
  {
    key: 'corsAllowCredentials',
    others: ['allowedOrigin'],
    rule: 'requires allowedOrigin to list explicit origins (not empty, not "*")',
    why: 'credentials for any origin would let every web site act with a visitor’s cookies',
    holds: (v) => !v.corsAllowCredentials || (v.allowedOrigin.length > 0 && !v.allowedOrigin.includes('*')),
  },
]
