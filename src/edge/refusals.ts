/**
 * Why an HTTP request or WebSocket upgrade was refused at the edge, before
 * any session existed: the `reason` label of `causeway_refusals_total`
 * besides the BOSH registry's own (src/core/bosh/metrics.ts).
 */
export const EDGE_REFUSALS = {
  version: 'WebSocket `Sec-WebSocket-Version` other than 13 (HTTP 426)',
  origin: '`Origin` not in `allowedOrigin` (HTTP 403)',
  subprotocol: 'no `xmpp` WebSocket subprotocol offered (HTTP 400)',
  draining: 'a new session while this process drains (HTTP 503)',
  'max-sessions': '`maxSessions` reached (WebSocket: HTTP 503)',
  'max-sessions-per-ip': '`maxSessionsPerIp` reached for the client address (WebSocket: HTTP 429)',
  'body-too-large': 'a BOSH body over `boshMaxBodyBytes`, refused before parsing',
  'body-timeout': 'a BOSH body not received within 10 s (HTTP 408)',
  'peer-proof': 'a BOSH request whose `Causeway-Forwarded` proof does not verify (HTTP 403, never served or forwarded)',
} as const

export type EdgeRefusal = keyof typeof EDGE_REFUSALS
