/**
 * Requests the CM keeps waiting (XEP-0124 §8): it "SHOULD NOT keep more HTTP
 * requests waiting at a time than the number specified in the 'hold'
 * attribute". Items stay in rid order; going over `hold` hands back the
 * oldest ones, which the session answers (empty) so responses keep rid order.
 */

export class HoldQueue<T extends { readonly rid: number }> {
  readonly #capacity: number
  readonly #items: T[] = []

  constructor(capacity: number) {
    if (capacity < 0) throw new RangeError('hold capacity must not be negative')
    this.#capacity = capacity
  }

  get size(): number {
    return this.#items.length
  }

  get capacity(): number {
    return this.#capacity
  }

  /** Add the newest request; returns the ones released to stay within `hold`, oldest first. */
  push(item: T): T[] {
    const last = this.#items[this.#items.length - 1]
    if (last !== undefined && last.rid >= item.rid) throw new RangeError(`held rid ${item.rid} is not above ${last.rid}`)
    this.#items.push(item)
    const excess = this.#items.length - this.#capacity
    return excess > 0 ? this.#items.splice(0, excess) : []
  }

  /** The oldest held request, removed. */
  shift(): T | undefined {
    return this.#items.shift()
  }

  peek(): T | undefined {
    return this.#items[0]
  }

  find(rid: number): T | undefined {
    return this.#items.find((item) => item.rid === rid)
  }

  /** Remove `item` if it is held; true when it was. */
  remove(item: T): boolean {
    const index = this.#items.indexOf(item)
    if (index < 0) return false
    this.#items.splice(index, 1)
    return true
  }

  /** Remove and return every held request with rid ≤ `rid`, oldest first. */
  takeThrough(rid: number): T[] {
    let n = 0
    while (n < this.#items.length && (this.#items[n] as T).rid <= rid) n++
    return this.#items.splice(0, n)
  }

  /** Remove and return everything, oldest first. */
  drain(): T[] {
    return this.#items.splice(0, this.#items.length)
  }
}
