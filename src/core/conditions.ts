/**
 * Every error condition Causeway emits, by the name its spec gives it.
 * Errors are data: a `Failure` says which condition, and each transport has
 * exactly one place that turns a Failure into wire bytes.
 */
import type { Element } from 'ltx'

/** RFC 6120 §4.9.3: stream error conditions (namespace urn:ietf:params:xml:ns:xmpp-streams). */
export const STREAM_CONDITIONS = [
  'bad-format',
  'bad-namespace-prefix',
  'conflict',
  'connection-timeout',
  'host-gone',
  'host-unknown',
  'improper-addressing',
  'internal-server-error',
  'invalid-from',
  'invalid-namespace',
  'invalid-xml',
  'not-authorized',
  'not-well-formed',
  'policy-violation',
  'remote-connection-failed',
  'reset',
  'resource-constraint',
  'restricted-xml',
  'see-other-host',
  'system-shutdown',
  'undefined-condition',
  'unsupported-encoding',
  'unsupported-feature',
  'unsupported-stanza-type',
  'unsupported-version',
] as const
export type StreamCondition = (typeof STREAM_CONDITIONS)[number]

/** XEP-0124 §17.2 (plus XEP-0206 §6 remote-stream-error): BOSH terminal binding conditions. */
export const BOSH_CONDITIONS = [
  'bad-request',
  'host-gone',
  'host-unknown',
  'improper-addressing',
  'internal-server-error',
  'item-not-found',
  'other-request',
  'policy-violation',
  'remote-connection-failed',
  'remote-stream-error',
  'see-other-uri',
  'system-shutdown',
  'undefined-condition',
] as const
export type BoshCondition = (typeof BOSH_CONDITIONS)[number]

export const NS = {
  client: 'jabber:client',
  stream: 'http://etherx.jabber.org/streams',
  streams: 'urn:ietf:params:xml:ns:xmpp-streams',
  framing: 'urn:ietf:params:xml:ns:xmpp-framing',
  tls: 'urn:ietf:params:xml:ns:xmpp-tls',
  sasl: 'urn:ietf:params:xml:ns:xmpp-sasl',
  /** XEP-0388 Extensible SASL Profile. */
  sasl2: 'urn:xmpp:sasl:2',
  /** RFC 6120 §7 resource binding. */
  bind: 'urn:ietf:params:xml:ns:xmpp-bind',
  httpbind: 'http://jabber.org/protocol/httpbind',
  xbosh: 'urn:xmpp:xbosh',
} as const

function isStreamCondition(name: string): name is StreamCondition {
  return (STREAM_CONDITIONS as readonly string[]).includes(name)
}


/**
 * Why a stream (either transport) ends. `text` is a short human explanation
 * that is safe to send to the client and to log: it never carries payload.
 */
export interface StreamFailure {
  readonly condition: StreamCondition
  readonly text?: string
}

export function streamFailure(condition: StreamCondition, text?: string): StreamFailure {
  return text === undefined ? { condition } : { condition, text }
}

/**
 * The defined condition inside a `<stream:error/>` (RFC 6120 §4.9.2: the one
 * child in the streams namespace that is not `<text/>`), read the same way
 * wherever a stream error is judged: a server's error forwarded to a client,
 * counted, or logged. `undefined-condition` when the server sent none we know.
 */
export function streamErrorCondition(error: Element): StreamCondition {
  for (const child of error.getChildElements()) {
    if (child.getNS() !== NS.streams) continue
    const name = child.getName()
    if (name !== 'text' && isStreamCondition(name)) return name
  }
  return 'undefined-condition'
}
