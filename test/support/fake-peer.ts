/**
 * Test support for the WebSocket session core: a recording WebSocketPeer
 * (the client's WebSocket as the `ws` adapter presents it), logging into the
 * same Wire as the FakeUpstream so both sides of a session are in one order.
 */
import type { WebSocketPeer } from '../../src/core/websocket/session.js'
import type { Wire } from './fake-upstream.js'

/**
 * Log lines: `client <text>` for each text message, `ping`,
 * `close <code>` (or `close <code> <reason>`), `terminate`,
 * `pause reading`, `resume reading`.
 */
export class FakePeer implements WebSocketPeer {
  /** What `bufferedBytes` reports: a test sets it to play a client that stopped reading. */
  bufferedBytes = 0
  readonly sent: string[] = []
  readonly closes: { code: number; reason: string | undefined }[] = []
  pings = 0
  terminations = 0

  constructor(private readonly wire: Wire) {}

  send(message: Uint8Array | string): void {
    const text = typeof message === 'string' ? message : new TextDecoder().decode(message)
    this.sent.push(text)
    this.wire.log.push(`client ${text}`)
  }

  ping(): void {
    this.pings += 1
    this.wire.log.push('ping')
  }

  close(code: number, reason?: string): void {
    this.closes.push({ code, reason })
    this.wire.log.push(reason === undefined ? `close ${code}` : `close ${code} ${reason}`)
  }

  terminate(): void {
    this.terminations += 1
    this.wire.log.push('terminate')
  }

  pauseReading(): void {
    this.wire.log.push('pause reading')
  }

  resumeReading(): void {
    this.wire.log.push('resume reading')
  }
}
