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
