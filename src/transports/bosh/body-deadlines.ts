/**
 * The deadline for a BOSH request's body: it must have arrived whole within
 * `timeoutMs` of its headers, or the connection is answered 408 and closed.
 *
 * Every POST has the same timeout, so deadlines fall in arrival order: one
 * insertion-ordered map and one timer armed for the oldest serve them all.
 * A request costs a map entry while its body is read, not a timer and three
 * listeners of its own (a BOSH client sends a request for every poll).
 */
import type { IncomingMessage } from 'node:http'
import type { Clock, Timer } from '../../core/clock.js'

export class BodyDeadlines {
  /** Requests whose body is still being read, oldest first, with when their headers came. */
  readonly #reading = new Map<IncomingMessage, number>()
  #timer: Timer | undefined

  constructor(
    private readonly clock: Clock,
    private readonly timeoutMs: number,
    /** The body did not arrive in time: answer and close (the request is still reading). */
    private readonly expired: (request: IncomingMessage) => void,
  ) {}

  /** Headers of `request` arrived: its body is due within the timeout. */
  started(request: IncomingMessage): void {
    this.#reading.set(request, this.clock.now())
    this.#timer ??= this.clock.setTimeout(() => this.#sweep(), this.timeoutMs)
  }

  /** The body of `request` arrived (or it was refused before it did): no deadline any more. */
  finished(request: IncomingMessage): void {
    this.#reading.delete(request)
  }

  get pending(): number {
    return this.#reading.size
  }

  /** Stop the timer (server closing). */
  close(): void {
    this.#timer?.cancel()
    this.#timer = undefined
    this.#reading.clear()
  }

  #sweep(): void {
    this.#timer = undefined
    const now = this.clock.now()
    for (const [request, startedAt] of this.#reading) {
      const due = startedAt + this.timeoutMs
      if (due > now) {
        this.#timer = this.clock.setTimeout(() => this.#sweep(), due - now)
        return
      }
      this.#reading.delete(request)
      // A connection that went away mid-body needs nothing more.
      if (!request.complete && !request.socket?.destroyed) this.expired(request)
    }
  }
}
