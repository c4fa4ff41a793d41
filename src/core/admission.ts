/**
 * Session caps shared by both transports: a total, and a per-address cap
 * so one client address cannot take the whole server.
 */
export type Admission = { readonly ok: true; release(): void } | { readonly ok: false; readonly reason: 'max-sessions' | 'max-sessions-per-ip' }

export class SessionLimits {
  #total = 0
  #byAddress = new Map<string, number>()

  constructor(
    private readonly maxSessions: number,
    private readonly maxPerAddress: number,
  ) {}

  get total(): number {
    return this.#total
  }

  /** Take a slot for `address`; the caller must release it exactly once. */
  admit(address: string): Admission {
    if (this.#total >= this.maxSessions) return { ok: false, reason: 'max-sessions' }
    const current = this.#byAddress.get(address) ?? 0
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
        const left = (this.#byAddress.get(address) ?? 1) - 1
        if (left <= 0) this.#byAddress.delete(address)
        else this.#byAddress.set(address, left)
      },
    }
  }
}
