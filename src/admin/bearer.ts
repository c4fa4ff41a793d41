/**
 * `Authorization: Bearer <adminToken>` (RFC 6750 §2.1) for the admin API.
 * The comparison takes the same time whatever the token sent: both sides
 * are hashed to a fixed length first, then compared with timingSafeEqual,
 * so neither the content nor the length of the secret leaks through timing.
 * The token is never logged (the logger also redacts `authorization`).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'

/** RFC 6750 §3: the realm announced with every 401. */
export const ADMIN_REALM = 'causeway-admin'

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

export class BearerToken {
  readonly #digest: Buffer

  constructor(token: string) {
    this.#digest = digest(token)
  }

  /** Whether the request carries the token. */
  matches(authorization: string | undefined): boolean {
    const match = authorization === undefined ? null : /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(authorization)
    // Compare even when the header is missing or malformed, so every refusal costs the same.
    const offered = digest(match?.[1] ?? '')
    return timingSafeEqual(offered, this.#digest) && match !== null
  }
}

/** RFC 6750 §3: 401 with a challenge; `invalid_token` when one was sent and was wrong. */
export function refuseUnauthorized(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const sent = request.headers.authorization !== undefined
  const challenge = sent ? `Bearer realm="${ADMIN_REALM}", error="invalid_token"` : `Bearer realm="${ADMIN_REALM}"`
  return reply
    .code(401)
    .headers({ 'www-authenticate': challenge, 'cache-control': 'no-store', 'content-type': 'application/json; charset=utf-8' })
    .send(JSON.stringify({ error: sent ? 'invalid token' : 'an Authorization: Bearer token is required (adminToken)' }))
}
