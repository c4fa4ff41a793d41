import type { Clock, Timer } from '../core/clock.js'

/** A Node timer seen through the core's Timer port (methods, not closures: idle sessions hold thousands of these). */
class SystemTimer implements Timer {
  readonly #handle: NodeJS.Timeout

  constructor(handle: NodeJS.Timeout) {
    this.#handle = handle
  }

  cancel(): void {
    clearTimeout(this.#handle)
  }

  refresh(): void {
    this.#handle.refresh()
  }
}

/** The real clock. Timers never keep the process alive on their own. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(callback: () => void, delayMs: number): Timer {
    return new SystemTimer(setTimeout(callback, delayMs).unref())
  },
}
