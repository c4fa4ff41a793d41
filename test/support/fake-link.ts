/**
 * Test support for the ClientStream core: a recording link (the socket
 * side) and a recording sink (the session side), both logging into one Wire
 * so a test can assert what went to the server and what the session heard,
 * in one order.
 */
import type { Element } from 'ltx'
import type { ClientStreamLink } from '../../src/core/xmpp/client-stream.js'
import { serialize } from '../../src/core/xml/serialize.js'
import type { XmlElement } from '../../src/core/xml/tokenizer.js'
import type { UpstreamEnd, UpstreamHeader, UpstreamSink } from '../../src/core/xmpp/upstream-port.js'
import type { Wire } from './fake-upstream.js'

export type LinkCommand = 'connect' | 'write' | 'startTls' | 'pause' | 'resume' | 'end' | 'destroy'

/**
 * A recording ClientStreamLink. Log lines: `link connect`, `link write <data>`,
 * `link starttls`, `link pause`, `link resume`, `link end`, `link destroy`.
 */
export class FakeLink implements ClientStreamLink {
  /** What `queuedBytes` reports: a test sets it to play a server that stopped reading. */
  queuedBytes = 0
  readonly written: string[] = []
  readonly #reactions = new Map<LinkCommand, () => void>()

  constructor(private readonly wire: Wire) {}

  /** Run `reaction` from inside the next `command` call: a link that reports synchronously. */
  when(command: LinkCommand, reaction: () => void): void {
    this.#reactions.set(command, reaction)
  }

  connect(): void {
    this.#record('connect', 'link connect')
  }

  write(bytes: Uint8Array | string): void {
    const data = typeof bytes === 'string' ? bytes : new TextDecoder().decode(bytes)
    this.written.push(data)
    this.#record('write', `link write ${data}`)
  }

  startTls(): void {
    this.#record('startTls', 'link starttls')
  }

  pause(): void {
    this.#record('pause', 'link pause')
  }

  resume(): void {
    this.#record('resume', 'link resume')
  }

  end(): void {
    this.#record('end', 'link end')
  }

  destroy(): void {
    this.#record('destroy', 'link destroy')
  }

  #record(command: LinkCommand, line: string): void {
    this.wire.log.push(line)
    const reaction = this.#reactions.get(command)
    if (!reaction) return
    this.#reactions.delete(command)
    reaction()
  }
}

/** An UpstreamEnd as one log word or two: `closed`, `stream-error conflict`, `failed protocol`, `auth-timeout`. */
export function describeEnd(end: UpstreamEnd): string {
  switch (end.kind) {
    case 'closed':
    case 'auth-timeout':
      return end.kind
    case 'stream-error':
      return `stream-error ${end.condition}`
    case 'failed':
      return `failed ${end.cause}`
  }
}

/**
 * A recording UpstreamSink. Log lines: `sink opened <features>`,
 * `sink element <xml>`, `sink authenticated`, `sink writable`, `sink end <describeEnd>`.
 * The headers and ends are kept whole for exact comparison.
 */
export class RecordingSink implements UpstreamSink {
  readonly headers: UpstreamHeader[] = []
  readonly ends: UpstreamEnd[] = []
  /** Called from inside `upstreamOpened`, after it is logged: a session that reacts at once. */
  onOpened: (() => void) | undefined

  constructor(private readonly wire: Wire) {}

  upstreamOpened(header: UpstreamHeader, features: Element): void {
    this.headers.push(header)
    this.wire.log.push(`sink opened ${serialize(features)}`)
    this.onOpened?.()
  }

  /** Logged as the exact bytes the stream handed over. */
  upstreamStanza(stanza: XmlElement): void {
    this.wire.log.push(`sink element ${new TextDecoder().decode(stanza.bytes)}`)
  }

  batches = 0

  upstreamBatchEnd(): void {
    this.batches += 1
  }

  upstreamAuthenticated(): void {
    this.wire.log.push('sink authenticated')
  }

  upstreamWritable(): void {
    this.wire.log.push('sink writable')
  }

  upstreamClosed(end: UpstreamEnd): void {
    this.ends.push(end)
    this.wire.log.push(`sink end ${describeEnd(end)}`)
  }
}
