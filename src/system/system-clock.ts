import type { Clock, Timer } from '../core/clock.js'

/** The real clock. Timers never keep the process alive on their own. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(callback: () => void, delayMs: number): Timer {
    const handle = setTimeout(callback, delayMs)
    handle.unref()
    return {
      cancel: () => clearTimeout(handle),
      refresh: () => {
        handle.refresh()
      },
    }
  },
}
