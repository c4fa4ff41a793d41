/**
 * Which node holds a BOSH session, and whether this node hands a request to
 * it. A sid is `NODE.RANDOM` (src/system/random-ids.ts); the label before
 * the first dot names the node that issued it. Pure: no sockets, no clock.
 */

/** A node this one can forward to: its label and the origin of its listener. */
export interface Peer {
  readonly label: string
  /** `http://10.0.0.12:5280`: the same boshPath is served there. */
  readonly origin: string
}

const LABEL = /^[a-z0-9-]{1,16}$/

/** The node label of a sid, or undefined for a sid without one. */
export function sidLabel(sid: string): string | undefined {
  const dot = sid.indexOf('.')
  if (dot <= 0) return undefined
  const label = sid.slice(0, dot)
  return LABEL.test(label) ? label : undefined
}

/** The `peers` option, without this node's own entry (one list may serve every node). */
export class PeerTable {
  readonly #peers = new Map<string, Peer>()

  /** @param entries `NODE=ORIGIN` as the config checked them. */
  constructor(
    readonly self: string,
    entries: readonly string[],
  ) {
    for (const entry of entries) {
      const eq = entry.indexOf('=')
      const label = entry.slice(0, eq)
      if (label === self) continue
      this.#peers.set(label, { label, origin: entry.slice(eq + 1) })
    }
  }

  get size(): number {
    return this.#peers.size
  }

  get all(): readonly Peer[] {
    return [...this.#peers.values()]
  }

  get(label: string): Peer | undefined {
    return this.#peers.get(label)
  }
}

export type ForwardDecision =
  /** Served here: a creation, a sid of ours, a sid without a (known) label, or a request a peer forwarded. */
  | { readonly kind: 'local' }
  /** Handed to the peer whose label the sid carries. */
  | { readonly kind: 'forward'; readonly peer: Peer }

const LOCAL: ForwardDecision = { kind: 'local' }

/**
 * Where a request goes. `sid` is the body wrapper's sid (undefined for a
 * creation); `forwarded` is true when a peer's proof verified: a forwarded
 * request is never forwarded again, so a disagreement between two nodes'
 * configurations costs one `item-not-found`, never a loop. An unknown
 * label is served here too: the registry answers `item-not-found`, exactly
 * what the owner of a forgotten session would say.
 */
export function forwardDecision(peers: PeerTable, sid: string | undefined, forwarded: boolean): ForwardDecision {
  if (sid === undefined || forwarded) return LOCAL
  const label = sidLabel(sid)
  if (label === undefined || label === peers.self) return LOCAL
  const peer = peers.get(label)
  return peer === undefined ? LOCAL : { kind: 'forward', peer }
}
