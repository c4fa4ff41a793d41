/**
 * The client side of SCRAM (RFC 5802) with SHA-1 and SHA-256 (RFC 7677),
 * without channel binding (gs2 header `n,,`: Causeway is not the end of the
 * client's TLS connection, so it has no binding to offer). Pure: messages in,
 * messages out; the nonce is given by the caller; only node:crypto is used.
 * Checked against the RFCs' own examples (test/unit/scram.test.ts).
 *
 * Passwords are normalised with NFKC, the core of SASLprep (RFC 4013); the
 * servers Causeway fronts apply SASLprep on their side, which agrees for
 * every password without the few characters SASLprep maps or prohibits.
 */
import { createHash, createHmac, pbkdf2, timingSafeEqual } from 'node:crypto'

export const SCRAM_MECHANISMS = { 'SCRAM-SHA-256': 'sha256', 'SCRAM-SHA-1': 'sha1' } as const
export type ScramMechanism = keyof typeof SCRAM_MECHANISMS

/** RFC 5802 §5.1 'i': more than this would let a server make us burn seconds of CPU per login. */
export const MAX_SCRAM_ITERATIONS = 1_000_000
/** RFC 5802 §3: gs2-header for a client without channel binding and without authzid. */
const GS2_HEADER = 'n,,'

export class ScramError extends Error {
  override name = 'ScramError'
}

/** RFC 5802 §5.1: '=' and ',' in a saslname are written =3D and =2C. */
function saslName(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C')
}

/** `a=b,c=d` → { a: 'b', c: 'd' } (values may contain '='). */
function attributes(message: string): Map<string, string> {
  const found = new Map<string, string>()
  for (const part of message.split(',')) {
    const eq = part.indexOf('=')
    if (eq === 1) found.set(part[0] ?? '', part.slice(2))
  }
  return found
}

function hmac(algorithm: string, key: Buffer, text: string): Buffer {
  return createHmac(algorithm, key).update(text, 'utf8').digest()
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length)
  for (let i = 0; i < a.length; i++) out[i] = (a[i] ?? 0) ^ (b[i] ?? 0)
  return out
}

function hi(password: string, salt: Buffer, iterations: number, algorithm: string, length: number): Promise<Buffer> {
  // RFC 5802 §2.2: Hi() is PBKDF2 with HMAC as the PRF; in the thread pool, off the event loop.
  return new Promise((resolve, reject) => pbkdf2(password, salt, iterations, length, algorithm, (error, key) => (error ? reject(error) : resolve(key))))
}

export class ScramClient {
  readonly #algorithm: string
  readonly #length: number
  readonly #firstBare: string
  #serverSignature: Buffer | undefined

  constructor(
    mechanism: ScramMechanism,
    username: string,
    private readonly password: string,
    /** Printable, without ',' (RFC 5802 §5.1 'r'); at least 18 random bytes' worth in production. */
    private readonly nonce: string,
  ) {
    this.#algorithm = SCRAM_MECHANISMS[mechanism]
    this.#length = createHash(this.#algorithm).digest().length
    if (!/^[\x21-\x2b\x2d-\x7e]+$/.test(nonce)) throw new ScramError('the client nonce must be printable ASCII without ","')
    this.#firstBare = `n=${saslName(username)},r=${nonce}`
  }

  /** client-first-message, the initial response of `<auth/>`. */
  first(): string {
    return GS2_HEADER + this.#firstBare
  }

  /** client-final-message for the server-first-message of the `<challenge/>`. */
  async final(serverFirst: string): Promise<string> {
    const attrs = attributes(serverFirst)
    if (attrs.has('m')) throw new ScramError('the server requires a SCRAM extension')
    const nonce = attrs.get('r')
    const salt = attrs.get('s')
    const iterations = Number(attrs.get('i'))
    if (nonce === undefined || !nonce.startsWith(this.nonce) || nonce.length === this.nonce.length) throw new ScramError('the server nonce does not extend the client nonce')
    if (salt === undefined || salt === '') throw new ScramError('no salt')
    if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_SCRAM_ITERATIONS) throw new ScramError(`iteration count out of range (1–${MAX_SCRAM_ITERATIONS})`)
    const salted = await hi(this.password.normalize('NFKC'), Buffer.from(salt, 'base64'), iterations, this.#algorithm, this.#length)
    const withoutProof = `c=${Buffer.from(GS2_HEADER).toString('base64')},r=${nonce}`
    const authMessage = `${this.#firstBare},${serverFirst},${withoutProof}`
    const clientKey = hmac(this.#algorithm, salted, 'Client Key')
    const storedKey = createHash(this.#algorithm).update(clientKey).digest()
    const proof = xor(clientKey, hmac(this.#algorithm, storedKey, authMessage))
    this.#serverSignature = hmac(this.#algorithm, hmac(this.#algorithm, salted, 'Server Key'), authMessage)
    return `${withoutProof},p=${proof.toString('base64')}`
  }

  /** RFC 5802 §3: the server proves it knew the password too (`v=` of server-final-message). */
  verify(serverFinal: string): boolean {
    const expected = this.#serverSignature
    const attrs = attributes(serverFinal)
    const v = attrs.get('v')
    if (!expected || attrs.has('e') || v === undefined) return false
    const offered = Buffer.from(v, 'base64')
    return offered.length === expected.length && timingSafeEqual(offered, expected)
  }
}

/** RFC 4616 PLAIN: authzid (empty) NUL authcid NUL password. */
export function plainMessage(username: string, password: string): string {
  return Buffer.from(`\0${username}\0${password}`, 'utf8').toString('base64')
}
