/** Session and stream ids come in from outside so cores stay free of crypto. */
export interface IdSource {
  /** An unpredictable id, URL- and XML-attribute-safe. */
  next(): string
}

/** Deterministic ids for tests: `prefix1`, `prefix2`, … */
export class SequentialIds implements IdSource {
  #n = 0
  constructor(private readonly prefix = 'id') {}
  next(): string {
    this.#n += 1
    return `${this.prefix}${this.#n}`
  }
}
