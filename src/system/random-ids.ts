import { randomBytes } from 'node:crypto'
import type { IdSource } from '../core/ids.js'

/**
 * 144 random bits, base64url (24 characters): unguessable session and
 * connection ids. An optional node label is prefixed as `NODE.` so a later
 * scale-out layer can route on it without a lookup.
 */
export class RandomIds implements IdSource {
  constructor(
    private readonly nodeId = '',
    private readonly bytes = 18,
  ) {}

  next(): string {
    const random = randomBytes(this.bytes).toString('base64url')
    return this.nodeId ? `${this.nodeId}.${random}` : random
  }
}
