/**
 * In-order delivery by rid (XEP-0124 §14.2): the CM "MUST forward the
 * payloads to the server and respond to the client requests in the order
 * specified by the 'rid' attributes". Rids are expected in a window of
 * `size` values above the last one processed in order; those that arrive
 * early wait here until the gap before them fills.
 */

export type RidClass =
  /** last + 1: process now. */
  | 'next'
  /** Within the window with a gap before it: queue it. */
  | 'ahead'
  /** Already queued: a retransmission of a request not yet processed. */
  | 'queued'
  /** At or below the last processed rid: a repeat (§14.3). */
  | 'seen'
  /** Above the window: §14.2 "MUST terminate the session with an error". */
  | 'beyond'

export class RidWindow<T> {
  #last: number
  readonly #size: number
  /** Made when a request first arrives ahead of a gap (rare): an idle session keeps no hash table. */
  #queued: Map<number, T> | undefined

  /** `last` is the rid already processed (the creation request's); `size` the 'requests' value. */
  constructor(last: number, size: number) {
    if (size < 1) throw new RangeError('rid window size must be at least 1')
    this.#last = last
    this.#size = size
  }

  /** Highest rid processed with every lower one processed too. */
  get last(): number {
    return this.#last
  }

  get size(): number {
    return this.#size
  }

  /** Requests waiting for a gap to fill. */
  get queuedCount(): number {
    return this.#queued?.size ?? 0
  }

  classify(rid: number): RidClass {
    if (rid <= this.#last) return 'seen'
    if (this.#queued?.has(rid)) return 'queued'
    if (rid === this.#last + 1) return 'next'
    if (rid <= this.#last + this.#size) return 'ahead'
    return 'beyond'
  }

  /** Mark the 'next' rid processed. */
  accept(rid: number): void {
    if (rid !== this.#last + 1) throw new RangeError(`rid ${rid} is not next (${this.#last + 1})`)
    this.#last = rid
  }

  /** Park an 'ahead' rid. */
  enqueue(rid: number, item: T): void {
    if (this.classify(rid) !== 'ahead') throw new RangeError(`rid ${rid} is not ahead of the window`)
    ;(this.#queued ??= new Map()).set(rid, item)
  }

  /** The item parked under `rid`, if any. */
  find(rid: number): T | undefined {
    return this.#queued?.get(rid)
  }

  /** Swap the item of a 'queued' rid, returning the one it displaces. */
  replace(rid: number, item: T): T | undefined {
    const previous = this.#queued?.get(rid)
    if (previous !== undefined) this.#queued?.set(rid, item)
    return previous
  }

  /** The queued item at last + 1, if the gap before it has filled; it becomes processed. */
  takeNext(): T | undefined {
    const rid = this.#last + 1
    const item = this.#queued?.get(rid)
    if (item === undefined) return undefined
    this.#queued?.delete(rid)
    this.#last = rid
    return item
  }

  /** Remove every queued item, lowest rid first. */
  drain(): T[] {
    const queued = this.#queued
    if (queued === undefined) return []
    const rids = [...queued.keys()].sort((a, b) => a - b)
    const items = rids.map((rid) => queued.get(rid) as T)
    queued.clear()
    return items
  }
}
