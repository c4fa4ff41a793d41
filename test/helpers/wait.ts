/**
 * Waiting without sleeping: a test registers what it waits for, and the
 * code that receives data wakes the waiters.
 */
export class Waiters {
  readonly #waiters = new Set<() => void>()

  /** Call after new data arrived. */
  wake(): void {
    for (const waiter of [...this.#waiters]) waiter()
  }

  /** Resolve with `ready()`'s first defined value, or reject after `timeoutMs` naming `what`. */
  until<T>(ready: () => T | undefined, timeoutMs: number, what: () => string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        let value: T | undefined
        try {
          value = ready()
        } catch (error) {
          this.#waiters.delete(check)
          clearTimeout(timer)
          reject(error instanceof Error ? error : new Error(String(error)))
          return
        }
        if (value === undefined) return
        this.#waiters.delete(check)
        clearTimeout(timer)
        resolve(value)
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(check)
        reject(new Error(`timed out waiting for ${what()}`))
      }, timeoutMs)
      this.#waiters.add(check)
      check()
    })
  }
}

/** `promise`, or a rejection naming `what` after `timeoutMs`. */
export async function withTimeout<T>(promise: Promise<T>, what: string, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${timeoutMs} ms`)), timeoutMs)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** How often `eventually` looks again. */
const POLL_MS = 25

/**
 * Poll `ready` until it gives a value other than undefined or false, and
 * return that value; reject naming `what` after `timeoutMs`. For state
 * that changes without an event to wait on (metrics, a log file, another
 * process); where there is an event, `Waiters` wakes sooner.
 */
export async function eventually<T>(what: string, ready: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await ready()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
}
