/**
 * Session admission: the one place both transports take and give back a
 * session slot. A total cap (`maxSessions`) protects memory and the
 * upstream; a per-address cap (`maxSessionsPerIp`) stops one client address
 * from taking the whole server. A WebSocket holds its slot as long as its
 * connection, a BOSH session until it is forgotten.
 */
export type Admission = { readonly ok: true; release(): void } | { readonly ok: false; readonly reason: 'max-sessions' | 'max-sessions-per-ip' }

export class SessionAdmission {
  #total = 0
  readonly #byAddress = new Map<string, number>()

  constructor(
    private readonly maxSessions: number,
    private readonly maxPerAddress: number,
  ) {}

  /** Sessions holding a slot now. */
  get total(): number {
    return this.#total
  }

  /** Slots held by one client address. */
  from(address: string): number {
    return this.#byAddress.get(address) ?? 0
  }

  /** Take a slot for `address`; `release` gives it back (calling it again is harmless). */
  admit(address: string): Admission {
    if (this.#total >= this.maxSessions) return { ok: false, reason: 'max-sessions' }
    const current = this.from(address)
    if (current >= this.maxPerAddress) return { ok: false, reason: 'max-sessions-per-ip' }
    this.#total += 1
    this.#byAddress.set(address, current + 1)
    let released = false
    return {
      ok: true,
      release: () => {
        if (released) return
        released = true
        this.#total -= 1
        const left = this.from(address) - 1
        if (left <= 0) this.#byAddress.delete(address)
        else this.#byAddress.set(address, left)
      },
    }
  }
}
