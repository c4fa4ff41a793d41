/**
 * Test support: plain totals behind the BOSH core's metric hooks and a
 * session observer that records what it is told.
 */
import type { BoshMetrics, RefusalReason } from '../../src/core/bosh/metrics.js'
import type { SessionEnd } from '../../src/core/session-end.js'
import type { Direction, SessionObserver, StanzaView } from '../../src/core/session-observer.js'

export class BoshCounters implements BoshMetrics {
  held = 0
  retransmissions = 0
  readonly refusals = new Map<RefusalReason, number>()

  heldRequests(delta: number): void {
    this.held += delta
  }

  retransmission(): void {
    this.retransmissions += 1
  }

  refused(reason: RefusalReason): void {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1)
  }
}

export class RecordingObserver implements SessionObserver {
  readonly relays: { direction: Direction; name: string; bytes: number }[] = []
  readonly ends: SessionEnd[] = []
  authentications = 0

  relayed(direction: Direction, stanza: StanzaView, bytes: number): void {
    this.relays.push({ direction, name: stanza.name, bytes })
  }

  authenticated(): void {
    this.authentications += 1
  }

  readonly upstreamFailures: { cause: string; opened: boolean }[] = []
  readonly authFailures: string[] = []
  readonly boundJids: string[] = []

  authFailed(condition: string): void {
    this.authFailures.push(condition)
  }

  bound(jid: string): void {
    this.boundJids.push(jid)
  }

  upstreamFailed(cause: string, opened: boolean): void {
    this.upstreamFailures.push({ cause, opened })
  }

  ended(end: SessionEnd): void {
    this.ends.push(end)
  }

  /** Ends keyed by condition ('normal' for none), for totals across sessions. */
  get terminations(): Map<string, number> {
    const totals = new Map<string, number>()
    for (const end of this.ends) totals.set(end.condition ?? 'normal', (totals.get(end.condition ?? 'normal') ?? 0) + 1)
    return totals
  }
}
