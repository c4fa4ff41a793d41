/**
 * Operator lines that would repeat once per session or per request (an
 * upstream that is down, a refused Origin, a full server) are logged once
 * per key per interval (`logRepeatIntervalMs`), each with how often it
 * happened meanwhile. The set of keys is bounded: past `maxKeys`, the oldest
 * key is forgotten (and may be logged again early, which is harmless).
 */
import type { Clock } from '../core/clock.js'

/** Distinct keys remembered at once (refused Origins are client-controlled). */
export const REPEAT_GATE_MAX_KEYS = 1024

interface Entry {
  loggedAt: number
  suppressed: number
}

export type GateVerdict = { readonly log: true; readonly repeats: number } | { readonly log: false }

export class RepeatGate {
  readonly #entries = new Map<string, Entry>()

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly maxKeys = REPEAT_GATE_MAX_KEYS,
  ) {}

  /** Log `key` now? `repeats`: how often it was held back since it was last logged. */
  admit(key: string): GateVerdict {
    const now = this.clock.now()
    const entry = this.#entries.get(key)
    if (entry && now - entry.loggedAt < this.intervalMs) {
      entry.suppressed += 1
      return { log: false }
    }
    const repeats = entry?.suppressed ?? 0
    this.#entries.delete(key)
    if (this.#entries.size >= this.maxKeys) {
      const oldest = this.#entries.keys().next()
      if (!oldest.done) this.#entries.delete(oldest.value)
    }
    this.#entries.set(key, { loggedAt: now, suppressed: 0 })
    return { log: true, repeats }
  }
}
