/** Test support: predictable ids. */
import type { IdSource } from '../../src/core/ids.js'

/** Deterministic ids for tests: `prefix1`, `prefix2`, … */
export class SequentialIds implements IdSource {
  #n = 0
  constructor(private readonly prefix = 'id') {}
  next(): string {
    this.#n += 1
    return `${this.prefix}${this.#n}`
  }
}
