/**
 * Test support: a recording UpstreamPort and the connector that hands it
 * out, for the session cores' tests (BOSH and WebSocket).
 */
import type { RouteVerdict, UpstreamConnector, UpstreamOpenRequest, UpstreamPort, UpstreamSink } from '../../src/core/xmpp/upstream-port.js'

/** Everything that crossed either side of a session, in order. */
export class Wire {
  readonly log: string[] = []
}

/** A recording UpstreamPort: what the session asked of its upstream, in order on the wire. */
export class FakeUpstream implements UpstreamPort {
  sink: UpstreamSink | undefined
  opened: UpstreamOpenRequest | undefined
  readonly sent: string[] = []
  restarts = 0
  closed = 0
  detached = 0
  /** What `bufferedBytes` reports: a test sets it to play a server that stopped reading. */
  bufferedBytes = 0
  /** What `send` returns: false plays a server that is not keeping up. */
  accepting = true
  constructor(private readonly wire: Wire) {}

  open(request: UpstreamOpenRequest): void {
    this.opened = request
    this.wire.log.push(`upstream open ${request.to}`)
  }

  send(bytes: Uint8Array): boolean {
    const xml = new TextDecoder().decode(bytes)
    this.sent.push(xml)
    this.wire.log.push(`upstream send ${xml}`)
    return this.accepting
  }

  restart(): void {
    this.restarts += 1
    this.wire.log.push('upstream restart')
  }

  pause(): void {
    this.wire.log.push('upstream pause')
  }

  resume(): void {
    this.wire.log.push('upstream resume')
  }

  close(): void {
    this.closed += 1
    this.wire.log.push('upstream close')
  }

  detach(): void {
    this.detached += 1
    this.wire.log.push('upstream detach')
  }
}

/** Routes every domain (or refuses as told) and hands out one FakeUpstream. */
export class FakeConnector implements UpstreamConnector {
  verdict: RouteVerdict | undefined
  constructor(readonly upstream: FakeUpstream) {}

  route(to: string | undefined): RouteVerdict {
    if (this.verdict) return this.verdict
    return to === undefined ? { ok: false, condition: 'improper-addressing', reason: 'no to' } : { ok: true, domain: to.toLowerCase() }
  }

  connect(sink: UpstreamSink): UpstreamPort {
    this.upstream.sink = sink
    return this.upstream
  }
}

