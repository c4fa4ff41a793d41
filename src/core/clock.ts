/**
 * Time as an injected dependency: protocol cores never touch global timers,
 * so tests drive them with a manual clock (test/support/manual-clock.ts)
 * and never sleep; production uses src/system/system-clock.ts.
 */
export interface Timer {
  /** Stop the timer; calling it twice is harmless. */
  cancel(): void
  /** Restart the countdown from now with the original delay. */
  refresh(): void
}

export interface Clock {
  /** Milliseconds on a monotonic scale (only differences are meaningful). */
  now(): number
  setTimeout(callback: () => void, delayMs: number): Timer
}
