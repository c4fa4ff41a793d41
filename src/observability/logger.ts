/**
 * pino, with one rule the rest of the code relies on: a stanza is logged as
 * a summary ({name, type, id, bytes}), never as XML, and SASL exchanges never
 * even as that much content.
 */
import { createHash } from 'node:crypto'
import { pino } from 'pino'
import type { Logger, DestinationStream, Level } from 'pino'
import type { FastifyBaseLogger } from 'fastify'
import type { StanzaView } from '../core/session-observer.js'
import { NS } from '../core/conditions.js'

export type { Logger }

/** What a session's code calls on its logger (a pino Logger is one). */
export interface SessionLog {
  isLevelEnabled(level: Level): boolean
  debug(fields: object, message: string): void
  debug(message: string): void
  info(fields: object, message: string): void
  info(message: string): void
  warn(fields: object, message: string): void
  warn(message: string): void
}

type LineLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'

/**
 * A pino child (≈ 0.7 kB) made only when a line is actually written. Two
 * uses: a session's logger (an idle session writes nothing until it ends),
 * and fastify's per-request logger (`childLoggerFactory`: fastify makes one
 * for every HTTP request, a BOSH poll, a held request, though with request
 * logging off nothing writes to it unless a request fails). A line at a
 * disabled level costs one level check.
 */
class LazyChildLog implements SessionLog {
  #child: Logger | undefined

  constructor(
    private readonly parent: Logger,
    private readonly bindings: Readonly<Record<string, unknown>>,
  ) {}

  #made(): Logger {
    return (this.#child ??= this.parent.child(this.bindings))
  }

  #log(level: LineLevel, args: unknown[]): void {
    if (!this.parent.isLevelEnabled(level)) return
    ;(this.#made()[level] as (...a: unknown[]) => void)(...args)
  }

  isLevelEnabled(level: Level): boolean {
    return this.parent.isLevelEnabled(level)
  }

  get level(): string {
    return this.parent.level
  }

  set level(level: string) {
    this.#made().level = level
  }

  fatal(...args: unknown[]): void {
    this.#log('fatal', args)
  }
  error(...args: unknown[]): void {
    this.#log('error', args)
  }
  warn(...args: unknown[]): void {
    this.#log('warn', args)
  }
  info(...args: unknown[]): void {
    this.#log('info', args)
  }
  debug(...args: unknown[]): void {
    this.#log('debug', args)
  }
  trace(...args: unknown[]): void {
    this.#log('trace', args)
  }
  silent(): void {}

  child(bindings: Record<string, unknown>): Logger {
    return this.#made().child(bindings)
  }
}

/** fastify's `childLoggerFactory`: a request's logger that costs nothing until it writes. */
export function lazyRequestLogger(parent: Logger, bindings: Readonly<Record<string, unknown>>): FastifyBaseLogger {
  return new LazyChildLog(parent, bindings) as unknown as FastifyBaseLogger
}

/** The logger of one session: `parent`'s lines with `bindings` (sid digest, transport, remote) added. */
export function sessionLog(parent: Logger, bindings: Readonly<Record<string, string>>): SessionLog {
  return new LazyChildLog(parent, bindings)
}

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
