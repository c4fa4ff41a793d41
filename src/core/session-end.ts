/**
 * Why a client session ended: one typed vocabulary for both transports.
 *
 * Every end is a `SessionEnd`: a typed reason (what happened) plus the spec
 * condition the client was told (RFC 6120 §4.9.3 stream condition, XEP-0124
 * §17.2 binding condition, or an RFC 6455 close), or none for a clean end.
 * The per-session log line, the `causeway_session_closes_total{reason,
 * condition}` labels and the table in docs/conditions.md all come from here
 * (test/unit/conditions-docs.test.ts keeps the doc in step).
 */
import type { BoshCondition, StreamCondition } from './conditions.js'

export const TRANSPORTS = ['websocket', 'bosh'] as const
export type Transport = (typeof TRANSPORTS)[number]

/** RFC 6455 §7.4.1 close reasons used without a stream error (service-restart: 1012, IANA WebSocket close code registry). */
export type WebSocketCloseCondition = 'unsupported-data' | 'service-restart'

export type EndCondition = StreamCondition | BoshCondition | WebSocketCloseCondition

/** What each reason means, which transports produce it and the condition(s) the client sees. */
export interface EndReasonSpec {
  readonly transports: readonly Transport[]
  /** One line for docs/conditions.md. */
  readonly what: string
  /** The condition sent, in words ("none" for a clean end). */
  readonly condition: string
}

export const END_REASONS = {
  'client-close': {
    transports: ['websocket', 'bosh'],
    what: "the client ended the session: WebSocket `<close/>` (RFC 7395 §3.6), BOSH `type='terminate'` (XEP-0124 §13)",
    condition: 'none',
  },
  'client-gone': {
    transports: ['websocket'],
    what: 'the WebSocket connection closed without `<close/>`; the upstream connection is dropped without `</stream:stream>` so the server can keep a XEP-0198 session',
    condition: 'none',
  },
  'upstream-closed': {
    transports: ['websocket', 'bosh'],
    what: 'the XMPP server ended its stream (`</stream:stream>`)',
    condition: 'none',
  },
  'upstream-error': {
    transports: ['websocket', 'bosh'],
    what: 'the XMPP server sent `<stream:error/>`; it is forwarded to the client',
    condition: "WebSocket: the server's own condition (`conflict`, `see-other-host`, …); BOSH: `remote-stream-error`",
  },
  'upstream-failed': {
    transports: ['websocket', 'bosh'],
    what: 'the XMPP server could not be reached or kept: refused, unresolvable, timed out, TLS failure, bad XML from it, connection lost, not reading for `drainTimeoutMs`, or (BOSH) no encrypted link for a client that asked for `secure`',
    condition: '`remote-connection-failed`',
  },
  'auth-timeout': {
    transports: ['websocket', 'bosh'],
    what: 'no SASL or SASL2 `<success/>` within `preAuthTimeoutMs` of the stream opening',
    condition: '`policy-violation`',
  },
  'open-timeout': {
    transports: ['websocket'],
    what: 'no `<open/>` within `openTimeoutMs` of the upgrade',
    condition: '`connection-timeout`',
  },
  'unknown-domain': {
    transports: ['websocket'],
    what: "`<open/>` without `to`, or for a domain no `upstream` rule serves (BOSH refuses such a creation before a session exists, with the same conditions)",
    condition: '`improper-addressing` without `to` (RFC 6120 §4.9.3.7, as XEP-0124 §17.2 and Prosody); `host-unknown` for a domain not served (RFC 6120 §4.9.3.6)',
  },
  'bad-input': {
    transports: ['websocket', 'bosh'],
    what: 'the client broke the XML, framing or binding rules (malformed or restricted XML, a limit exceeded, a wrong first message, a malformed body for a live session, `xmpp:restart` at the wrong time)',
    condition: 'the rule broken: `not-well-formed`, `restricted-xml`, `policy-violation`, `bad-format`, `bad-request`, …',
  },
  'binary-frame': {
    transports: ['websocket'],
    what: 'a binary WebSocket frame (RFC 7395 §3.2: XMPP travels in text frames)',
    condition: '`unsupported-data` (close 1003, no stream error)',
  },
  'no-pong': {
    transports: ['websocket'],
    what: 'no pong to a keepalive ping within `wsPingIntervalMs`',
    condition: '`connection-timeout` (connection cut, no stream error)',
  },
  'client-not-reading': {
    transports: ['websocket'],
    what: 'the client left its output unread for `drainTimeoutMs`',
    condition: '`resource-constraint` (connection cut, no stream error)',
  },
  shutdown: {
    transports: ['websocket', 'bosh'],
    what: 'this Causeway process is shutting down',
    condition: '`system-shutdown` (WebSocket: `<close/>` and close 1001)',
  },
  handoff: {
    transports: ['websocket', 'bosh'],
    what: 'this Causeway process is shutting down with `shutdownHandoff`: the upstream connection is dropped without `</stream:stream>`, so the server keeps a XEP-0198 session the client can resume through another node',
    condition: 'WebSocket: close 1012 `service-restart` with no `<close/>` (the stream is not over); BOSH: `system-shutdown`',
  },
  'see-other-uri': {
    transports: ['websocket'],
    what: '`seeOtherUri` is set: the first `<open/>` is answered with `<close see-other-uri=…/>` instead of `<open/>` (RFC 7395 §3.6.1); BOSH refuses such a creation before a session exists',
    condition: '`see-other-uri` (an attribute of `<close/>`, then close 1000)',
  },
  inactivity: {
    transports: ['bosh'],
    what: 'no request for longer than `inactivity` (or the requested `pause`), XEP-0124 §10: ended without telling the client',
    condition: 'none',
  },
  overactivity: {
    transports: ['bosh'],
    what: 'more simultaneous requests than `requests` (XEP-0124 §11)',
    condition: '`policy-violation`',
  },
  'too-frequent': {
    transports: ['bosh'],
    what: 'empty requests closer together than `polling` (XEP-0124 §11, §12)',
    condition: '`policy-violation`',
  },
  'pause-too-long': {
    transports: ['bosh'],
    what: '`pause` above `maxpause`, or pausing is off (XEP-0124 §10)',
    condition: '`policy-violation`',
  },
  'rid-out-of-window': {
    transports: ['bosh'],
    what: '`rid` above the window (XEP-0124 §14.2)',
    condition: '`item-not-found`',
  },
  'rid-gap': {
    transports: ['bosh'],
    what: 'requests queued behind a `rid` that did not arrive within `wait + inactivity` (XEP-0124 §14.2)',
    condition: '`item-not-found`',
  },
  'rid-repeated': {
    transports: ['bosh'],
    what: 'the same unanswered `rid` sent again more often than a client recovering from broken connections would (XEP-0124 §14.3)',
    condition: '`policy-violation`',
  },
  'response-unavailable': {
    transports: ['bosh'],
    what: 'a repeated `rid` whose response is no longer buffered (XEP-0124 §14.3)',
    condition: '`item-not-found`',
  },
  'bad-key': {
    transports: ['bosh'],
    what: '`key` missing or not hashing to the previous one (XEP-0124 §15.4)',
    condition: '`item-not-found`',
  },
  'unknown-stream': {
    transports: ['bosh'],
    what: 'a `stream` name this session never opened (XEP-0124 §16.4)',
    condition: '`item-not-found`',
  },
  killed: {
    transports: ['websocket', 'bosh'],
    what: 'an operator ended the session through the admin API (`DELETE /admin/sessions/{id}`); the upstream stream is closed politely',
    condition: '`policy-violation`, or the condition the operator named',
  },
  'pending-overflow': {
    transports: ['bosh'],
    what: 'server output waiting for a request grew past `writeBufferHighWaterBytes` with no request held',
    condition: '`policy-violation`',
  },
} as const satisfies Record<string, EndReasonSpec>

export type EndReason = keyof typeof END_REASONS

export interface SessionEnd {
  readonly reason: EndReason
  /** The condition the client was told; absent for a clean end. */
  readonly condition?: EndCondition
  /** Short, payload-free explanation, safe for the client and for logs. */
  readonly text?: string
  /** Operator detail (addresses, error codes) for the log only. */
  readonly detail?: string
}

/** The `condition` label and log field: the condition sent, or `normal` for a clean end. */
export function endConditionLabel(end: SessionEnd): string {
  return end.condition ?? 'normal'
}
