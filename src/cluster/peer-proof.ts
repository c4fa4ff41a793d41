/**
 * The proof a forwarding node puts on a BOSH request it hands to the node
 * that owns the session, so the owner may believe what the forwarder says
 * about the client (its address, and whether its own leg was TLS).
 *
 * One header, `Causeway-Forwarded`:
 *
 *   v1;by=node1;to=node2;at=1765074000123;for=203.0.113.9;tls=1;mac=<43 base64url>
 *
 * `mac` is HMAC-SHA-256, keyed with a key derived from `peerSecret`, over the
 * version, both node labels, the wall-clock time of forwarding, the client
 * facts, the method, path and Origin of the request, and the SHA-256 of its
 * body. So the secret never travels; a proof is good for one node, one body
 * and MAX_PROOF_SKEW_MS either side of its time; and nothing in it can be
 * changed without the secret. Compared in constant time.
 *
 * What a receiver does with it (src/transports/bosh/forwarding.ts):
 * - no header: an ordinary client request;
 * - a header with no `mac` (what a client that forges "facts" sends): ignored,
 *   the request is an ordinary client request;
 * - a `mac` that does not verify (wrong secret, stale, another node's, a
 *   changed body or fact): refused (HTTP 403), never served or forwarded;
 * - a proof that verifies: the facts stand for the client, and the request
 *   is served here and never forwarded again.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import { canonicalAddress } from '../net/address.js'

/** The header's name (lower case, as Node presents request headers). */
export const PEER_HEADER = 'causeway-forwarded'

/** How far a proof's time may lie from the receiver's clock, either way: the forwarding hop plus clock skew between hosts. */
export const MAX_PROOF_SKEW_MS = 30_000

const VERSION = 'v1'
/** Domain separation: the MAC key is HMAC(peerSecret, this), never the secret itself. */
const KEY_LABEL = 'causeway peer proof v1'
const MAC_BYTES = 32

/** What a forwarder says about the client of a request. */
export interface ClientFacts {
  /** The client's address as the forwarder decided it (socket or trusted proxy). */
  readonly address: string
  /** Whether the client's own leg was TLS. */
  readonly secure: boolean
}

/** The parts of the HTTP request a proof is bound to. */
export interface ProvenRequest {
  readonly method: string
  /** The request target as sent (path and query). */
  readonly path: string
  readonly origin: string | undefined
  readonly body: Uint8Array
}

export type ProofVerdict =
  /** No header: an ordinary request. */
  | { readonly kind: 'absent' }
  /** A header without a proof: ignored, the request is an ordinary one. */
  | { readonly kind: 'unproven' }
  /** A proof that verifies: forwarded by `by`, for this client. */
  | { readonly kind: 'proven'; readonly by: string; readonly client: ClientFacts }
  /** A proof that does not verify: refuse the request. */
  | { readonly kind: 'refused'; readonly reason: ProofFailure }

/** Why a proof was refused (the `reason` label of causeway_peer_proof_failures_total). */
export const PROOF_FAILURES = {
  malformed: 'the header has a `mac` but is not a well-formed v1 proof',
  'wrong-node': 'the proof names another node as its receiver, or this node as its sender',
  stale: `the proof's time is more than ${MAX_PROOF_SKEW_MS / 1000} s away from this node's clock`,
  'bad-mac': 'the MAC does not verify: a different peerSecret, or a changed body, path, Origin or fact',
} as const
export type ProofFailure = keyof typeof PROOF_FAILURES

const LABEL = /^[a-z0-9-]{1,16}$/

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url')
}

function digest(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('base64url')
}

export class PeerProof {
  readonly #key: Buffer
  readonly #self: string
  readonly #wallClock: () => number

  /**
   * @param secret the shared peerSecret
   * @param self this node's label (nodeId)
   * @param wallClock epoch milliseconds (Date.now in production; proofs cross hosts, so not the monotonic Clock)
   */
  constructor(secret: string, self: string, wallClock: () => number) {
    this.#key = createHmac('sha256', secret).update(KEY_LABEL).digest()
    this.#self = self
    this.#wallClock = wallClock
  }

  /** The header value for forwarding `request` to node `to` on behalf of `client`. */
  sign(to: string, client: ClientFacts, request: ProvenRequest): string {
    const at = Math.floor(this.#wallClock())
    const tls = client.secure ? '1' : '0'
    const mac = this.#mac(this.#self, to, at, client.address, tls, request)
    return `${VERSION};by=${this.#self};to=${to};at=${at};for=${client.address};tls=${tls};mac=${base64url(mac)}`
  }

  /** Judge the header of a received request (see the module comment for what each verdict means). */
  verify(header: string | string[] | undefined, request: ProvenRequest): ProofVerdict {
    if (header === undefined) return { kind: 'absent' }
    // Two copies of the header: a client's forged one and ours cannot both be right; judge them as one malformed value.
    const text = Array.isArray(header) ? header.join(',') : header
    const fields = new Map<string, string>()
    const parts = text.split(';').map((part) => part.trim())
    for (const part of parts) {
      const eq = part.indexOf('=')
      if (eq <= 0) continue
      const name = part.slice(0, eq)
      if (fields.has(name)) return refused('malformed')
      fields.set(name, part.slice(eq + 1))
    }
    const macText = fields.get('mac')
    if (macText === undefined) return { kind: 'unproven' }
    const by = fields.get('by') ?? ''
    const to = fields.get('to') ?? ''
    const atText = fields.get('at') ?? ''
    const address = fields.get('for') ?? ''
    const tls = fields.get('tls') ?? ''
    const mac = Buffer.from(macText, 'base64url')
    if (
      parts[0] !== VERSION ||
      !LABEL.test(by) ||
      !LABEL.test(to) ||
      !/^[0-9]{1,16}$/.test(atText) ||
      isIP(address) === 0 ||
      canonicalAddress(address) !== address ||
      (tls !== '0' && tls !== '1') ||
      mac.length !== MAC_BYTES ||
      base64url(mac) !== macText
    ) {
      return refused('malformed')
    }
    if (to !== this.#self || by === this.#self) return refused('wrong-node')
    const at = Number(atText)
    if (Math.abs(this.#wallClock() - at) > MAX_PROOF_SKEW_MS) return refused('stale')
    const expected = this.#mac(by, to, at, address, tls, request)
    if (!timingSafeEqual(expected, mac)) return refused('bad-mac')
    return { kind: 'proven', by, client: { address, secure: tls === '1' } }
  }

  #mac(by: string, to: string, at: number, address: string, tls: string, request: ProvenRequest): Buffer {
    const text = [PEER_HEADER, VERSION, by, to, String(at), address, tls, request.method, request.path, request.origin ?? '', digest(request.body)].join('\n')
    return createHmac('sha256', this.#key).update(text).digest()
  }
}

function refused(reason: ProofFailure): ProofVerdict {
  return { kind: 'refused', reason }
}
