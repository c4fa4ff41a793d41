/** A token bucket on the injected clock: `perSecond` tokens a second, bursts of up to `perSecond`. */
import type { Clock } from '../core/clock.js'

export class TokenBucket {
  #tokens: number
  #at: number

  constructor(
    private readonly clock: Clock,
    private readonly perSecond: number,
  ) {
    this.#tokens = perSecond
    this.#at = clock.now()
  }

  /** Take one token; false when none is left. */
  take(): boolean {
    const now = this.clock.now()
    this.#tokens = Math.min(this.perSecond, this.#tokens + ((now - this.#at) / 1000) * this.perSecond)
    this.#at = now
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }

  /** Whole seconds until a token is back (for Retry-After). */
  get retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((1 - this.#tokens) / this.perSecond))
  }
}
