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
  /**
   * Oldest first; insertion order is rid order, so responses leave in rid
   * order (§14.2). A plain array: it never holds more than 'requests'
   * entries (a handful), and an idle session keeps no hash table.
   */
  readonly #entries: CachedResponse[] = []

  constructor(capacity: number) {
    if (capacity < 1) throw new RangeError('response cache capacity must be at least 1')
    this.#capacity = capacity
  }

  get size(): number {
    return this.#entries.length
  }

  put(rid: number, body: Uint8Array, sentAt: number): void {
    const entries = this.#entries
    const previous = entries.findIndex((entry) => entry.rid === rid)
    if (previous >= 0) entries.splice(previous, 1)
    entries.push({ rid, body, sentAt })
    if (entries.length > this.#capacity) entries.splice(0, entries.length - this.#capacity)
  }

  get(rid: number): CachedResponse | undefined {
    return this.#entries.find((entry) => entry.rid === rid)
  }

  /** §14.3: with acknowledgements, only responses "that have not yet been acknowledged" need keeping. */
  forgetThrough(rid: number): void {
    const entries = this.#entries
    let kept = 0
    for (const entry of entries) if (entry.rid > rid) entries[kept++] = entry
    entries.length = kept
  }
}
