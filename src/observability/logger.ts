/**
 * pino, with one rule the rest of the code relies on: a stanza is logged as
 * a summary ({name, type, id, bytes}), never as XML, and SASL exchanges never
 * even as that much content.
 */
import { createHash } from 'node:crypto'
import { pino } from 'pino'
import type { Logger, DestinationStream, Level } from 'pino'
import type { StanzaView } from '../core/session-observer.js'
import { NS } from '../core/conditions.js'

export type { Logger }

export function createLogger(level: Level | 'silent', destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { name: 'causeway' },
      // Defence in depth: if a payload ever reaches a log call, it is cut out.
      redact: { paths: ['payload', 'xml', '*.payload', '*.xml', 'password', 'authorization', 'req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
    },
    destination,
  )
}

export interface StanzaSummary {
  readonly name: string
  readonly type?: string
  readonly id?: string
  readonly bytes: number
}

/** What may be logged about a stanza: never its text, never SASL data. */
export function summarise(stanza: StanzaView, bytes: number): StanzaSummary {
  const summary: { name: string; type?: string; id?: string; bytes: number } = { name: stanza.name, bytes }
  const ns = stanza.attr('xmlns')
  if (ns === NS.sasl || ns === NS.sasl2) return summary
  const type = stanza.attr('type')
  const id = stanza.attr('id')
  if (type !== undefined) summary.type = type
  if (id !== undefined) summary.id = id
  return summary
}

/**
 * A session id as it may appear in logs: a BOSH sid plus a rid is enough to
 * take over a session, so logs carry a short digest instead. An operator
 * holding a client's sid can compute the same digest to find its lines.
 */
export function loggableId(id: string): string {
  return createHash('sha256').update(id).digest('hex').slice(0, 16)
}
