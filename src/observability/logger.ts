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

/**
 * A session's logger, made into a pino child (≈ 0.7 kB) only when a line is
 * actually written: at the default level an idle session writes nothing
 * until it ends. Lines at a disabled level cost one level check.
 */
class LazySessionLog implements SessionLog {
  #child: Logger | undefined

  constructor(
    private readonly parent: Logger,
    private readonly bindings: Readonly<Record<string, string>>,
  ) {}

  isLevelEnabled(level: Level): boolean {
    return this.parent.isLevelEnabled(level)
  }

  #write(level: 'debug' | 'info' | 'warn', fieldsOrMessage: object | string, message?: string): void {
    if (!this.parent.isLevelEnabled(level)) return
    const child = (this.#child ??= this.parent.child(this.bindings))
    if (typeof fieldsOrMessage === 'string') child[level](fieldsOrMessage)
    else child[level](fieldsOrMessage, message)
  }

  debug(fieldsOrMessage: object | string, message?: string): void {
    this.#write('debug', fieldsOrMessage, message)
  }

  info(fieldsOrMessage: object | string, message?: string): void {
    this.#write('info', fieldsOrMessage, message)
  }

  warn(fieldsOrMessage: object | string, message?: string): void {
    this.#write('warn', fieldsOrMessage, message)
  }
}

type RequestLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'

/**
 * fastify's per-request logger, as a factory for its `childLoggerFactory`
 * option: fastify makes one for every HTTP request (a BOSH poll, a held
 * request), though with request logging off nothing writes to it unless a
 * request fails. The pino child is made on the first line that is written.
 */
class LazyRequestLog {
  #child: Logger | undefined

  constructor(
    private readonly parent: Logger,
    private readonly bindings: Readonly<Record<string, unknown>>,
  ) {}

  #log(level: RequestLevel, args: unknown[]): void {
    if (!this.parent.isLevelEnabled(level)) return
    const child = (this.#child ??= this.parent.child(this.bindings))
    ;(child[level] as (...a: unknown[]) => void)(...args)
  }

  get level(): string {
    return this.parent.level
  }

  set level(level: string) {
    ;(this.#child ??= this.parent.child(this.bindings)).level = level
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
    return (this.#child ??= this.parent.child(this.bindings)).child(bindings)
  }
}

/** fastify's `childLoggerFactory`: a request's logger that costs nothing until it writes. */
export function lazyRequestLogger(parent: Logger, bindings: Readonly<Record<string, unknown>>): FastifyBaseLogger {
  return new LazyRequestLog(parent, bindings) as unknown as FastifyBaseLogger
}

/** The logger of one session: `parent`'s lines with `bindings` (sid digest, transport, remote) added. */
export function sessionLog(parent: Logger, bindings: Readonly<Record<string, string>>): SessionLog {
  return new LazySessionLog(parent, bindings)
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
