/**
 * Test support: a Clock whose time moves only when the test says so, so the
 * cores' deadlines are tested exactly and without sleeping.
 */
import type { Clock, Timer } from '../../src/core/clock.js'

interface ScheduledTimer {
  due: number
  readonly delay: number
  readonly callback: () => void
  readonly seq: number
  active: boolean
}

/** A clock for tests: time moves only when `advance` is called. */
export class ManualClock implements Clock {
  #now = 0
  #seq = 0
  #timers = new Set<ScheduledTimer>()

  now(): number {
    return this.#now
  }

  setTimeout(callback: () => void, delayMs: number): Timer {
    const timer: ScheduledTimer = { due: this.#now + delayMs, delay: delayMs, callback, seq: this.#seq++, active: true }
    this.#timers.add(timer)
    return {
      cancel: () => {
        timer.active = false
        this.#timers.delete(timer)
      },
      refresh: () => {
        if (!timer.active) {
          timer.active = true
          this.#timers.add(timer)
        }
        timer.due = this.#now + timer.delay
      },
    }
  }

  /** Move time forward, firing due timers in order of due time, then creation. */
  advance(ms: number): void {
    const target = this.#now + ms
    for (;;) {
      let next: ScheduledTimer | undefined
      for (const timer of this.#timers) {
        if (timer.due <= target && (!next || timer.due < next.due || (timer.due === next.due && timer.seq < next.seq))) {
          next = timer
        }
      }
      if (!next) break
      this.#now = Math.max(this.#now, next.due)
      next.active = false
      this.#timers.delete(next)
      next.callback()
    }
    this.#now = target
  }

  /** How many timers are waiting to fire. */
  get pending(): number {
    return this.#timers.size
  }
}
