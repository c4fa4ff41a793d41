/**
 * The missed-response buffer (XEP-0124 §14.3): the CM "SHOULD remember the
 * 'rid' and the associated HTTP response body of the client's most recent
 * requests", so a client that lost a response can resend the request and get
 * the same bytes. Sized to the session's 'requests' value.
 */

export interface CachedResponse {
  readonly rid: number
  readonly body: Uint8Array
  /** Clock time the response was sent, for §9.2 'time'. */
  readonly sentAt: number
}

export class ResponseCache {
  readonly #capacity: number
  /** Insertion order is rid order: responses leave in rid order (§14.2). */
  readonly #entries = new Map<number, CachedResponse>()

  constructor(capacity: number) {
    if (capacity < 1) throw new RangeError('response cache capacity must be at least 1')
    this.#capacity = capacity
  }

  get size(): number {
    return this.#entries.size
  }

  put(rid: number, body: Uint8Array, sentAt: number): void {
    this.#entries.delete(rid)
    this.#entries.set(rid, { rid, body, sentAt })
    while (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.keys().next()
      if (oldest.done) break
      this.#entries.delete(oldest.value)
    }
  }

  get(rid: number): CachedResponse | undefined {
    return this.#entries.get(rid)
  }

  /** §14.3: with acknowledgements, only responses "that have not yet been acknowledged" need keeping. */
  forgetThrough(rid: number): void {
    for (const key of [...this.#entries.keys()]) if (key <= rid) this.#entries.delete(key)
  }
}
