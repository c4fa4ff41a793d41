/**
 * Forwarding between nodes, for balancers that cannot route on the BOSH
 * body (nginx open source, AWS ALB, Cloudflare): a request whose sid
 * carries another node's label is handed to that node over a kept-alive
 * HTTP/1.1 connection (undici, one pool per peer), and its answer goes back
 * to the client unchanged. The proof that lets the owner believe what this
 * node says about the client is src/cluster/peer-proof.ts; which requests
 * travel is src/cluster/peers.ts.
 *
 * Why undici: it is the HTTP client Node's own fetch is built on, its Pool
 * keeps connections alive per origin, and its request() API hands us the
 * status, headers and body without fetch's stream and Headers overhead. A
 * held BOSH request occupies one pooled connection for as long as the owner
 * holds it; connections are opened as needed and reused afterwards.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { Pool, errors as undiciErrors } from 'undici'
import type { Dispatcher } from 'undici'
import type { Clock } from '../../core/clock.js'
import type { BodyParseResult } from '../../core/bosh/body.js'
import type { ClientFacts, PeerProof, ProofVerdict } from '../../cluster/peer-proof.js'
import { PEER_HEADER } from '../../cluster/peer-proof.js'
import { forwardDecision } from '../../cluster/peers.js'
import type { Peer, PeerTable } from '../../cluster/peers.js'
import type { Logger } from '../../observability/logger.js'
import type { Metrics } from '../../observability/metrics.js'

/** Owner → forwarder, on answers to a proven request: ms the owner spent on it (receipt to answer). */
export const OWNER_TIME_HEADER = 'causeway-owner-ms'
/** Owner → forwarder: XEP-0124 §19, close the client's connection without an answer. */
export const DROP_HEADER = 'causeway-drop'
/** Owner → forwarder: the proof was refused (its reason), so our peerSecret or clock is wrong. */
export const PROOF_REFUSED_HEADER = 'causeway-peer-refused'

/** A peer that does not accept a connection within this is unreachable. */
export const PEER_CONNECT_TIMEOUT_MS = 5_000
/** Beyond the longest hold (boshMaxWaitMs), how long the owner may take to answer. */
export const PEER_ANSWER_MARGIN_MS = 30_000

/**
 * The owner's response headers the client gets. The rest are hop-by-hop
 * (connection, keep-alive, transfer-encoding), recomputed (content-length,
 * date) or internal (OWNER_TIME_HEADER).
 */
const PASSED_HEADERS = [
  'content-type',
  'cache-control',
  'vary',
  'retry-after',
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-expose-headers',
] as const

/** How one forwarded request ended (the `outcome` label of causeway_forwarded_requests_total). */
export const FORWARD_OUTCOMES = {
  answered: "the owner's answer went back to the client",
  unreachable: 'the owner did not answer (refused, reset, timed out): the client got item-not-found',
  refused: 'the owner refused our proof (peerSecret or clocks differ): the client got item-not-found',
  dropped: "XEP-0124 §19 at the owner: the client's connection was closed unanswered",
  'client-gone': 'the client went away first; the owner saw its request end too',
  shutdown: "this node stopped while the owner held the request: the client's connection was closed, so it repeats the request through another node (§14.3)",
} as const
export type ForwardOutcome = keyof typeof FORWARD_OUTCOMES

/** What the route does after forwarding: nothing more, answer item-not-found itself, or drop the connection. */
export type ForwardResult =
  | { readonly kind: 'answer'; readonly status: number; readonly headers: Record<string, string>; readonly body: Buffer }
  | { readonly kind: 'unknown-session' }
  | { readonly kind: 'drop' }
  | { readonly kind: 'gone' }

/** The request as the route has it. */
export interface ForwardRequest {
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
  /** Calls back once if the client goes away before it is answered. */
  onClientGone(gone: () => void): void
}

export interface BoshForwardingOptions {
  readonly peers: PeerTable
  readonly proof: PeerProof
  /** boshMaxWaitMs: an owner may hold a request this long. */
  readonly maxWaitMs: number
  readonly clock: Clock
  readonly log: Logger
  readonly metrics: Metrics
}

function header(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

/** A failure of the connection itself before any answer: worth one retry on a fresh connection (§14.3 makes a repeat safe). */
function connectionReset(error: unknown): boolean {
  const code = (error as { code?: string }).code
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET' || error instanceof undiciErrors.SocketError
}

export class BoshForwarding {
  readonly #options: BoshForwardingOptions
  readonly #pools = new Map<string, Pool>()
  /** In-flight forwards, aborted when this node stops. */
  readonly #inFlight = new Set<AbortController>()
  #closing = false

  constructor(options: BoshForwardingOptions) {
    this.#options = options
    for (const peer of options.peers.all) {
      this.#pools.set(
        peer.label,
        new Pool(peer.origin, {
          pipelining: 1,
          connect: { timeout: PEER_CONNECT_TIMEOUT_MS },
          headersTimeout: options.maxWaitMs + PEER_ANSWER_MARGIN_MS,
          bodyTimeout: PEER_ANSWER_MARGIN_MS,
        }),
      )
    }
  }

  /** Judge a received request's `Causeway-Forwarded` header (src/cluster/peer-proof.ts). */
  judge(request: { readonly method: string; readonly url: string; readonly headers: IncomingHttpHeaders }, body: Buffer): ProofVerdict {
    return this.#options.proof.verify(request.headers[PEER_HEADER], { method: request.method, path: request.url, origin: header(request.headers, 'origin'), body })
  }

  /** The peer to hand this request to, or undefined to serve it here. */
  peerFor(parsed: BodyParseResult, verdict: ProofVerdict): Peer | undefined {
    const sid = parsed.ok ? (parsed.request.kind === 'session' ? parsed.request.sid : undefined) : parsed.failure.sid
    const decision = forwardDecision(this.#options.peers, sid, verdict.kind === 'proven')
    return decision.kind === 'forward' ? decision.peer : undefined
  }

  /** Hand the request to `peer` on behalf of `client`; resolves once its answer (or the failure) is known. */
  async forward(peer: Peer, request: ForwardRequest, client: ClientFacts): Promise<ForwardResult> {
    const { clock, metrics, log, proof } = this.#options
    const pool = this.#pools.get(peer.label)
    if (!pool) throw new Error(`no pool for peer ${peer.label}`)
    const controller = new AbortController()
    this.#inFlight.add(controller)
    let clientGone = false
    request.onClientGone(() => {
      clientGone = true
      controller.abort()
    })
    const origin = header(request.headers, 'origin')
    const headers: Record<string, string> = {
      'content-type': header(request.headers, 'content-type') ?? 'text/xml; charset=utf-8',
      [PEER_HEADER]: proof.sign(peer.label, client, { method: 'POST', path: request.url, origin, body: request.body }),
    }
    if (origin !== undefined) headers.origin = origin
    const started = clock.now()
    const count = (outcome: ForwardOutcome) => metrics.forwardedRequests.inc({ peer: peer.label, outcome })
    try {
      let answer: Dispatcher.ResponseData | undefined
      for (let attempt = 0; answer === undefined; attempt++) {
        try {
          answer = await pool.request({ method: 'POST', path: request.url, headers, body: request.body, signal: controller.signal })
        } catch (error) {
          if (attempt > 0 || clientGone || !connectionReset(error)) throw error
        }
      }
      const body = Buffer.from(await answer.body.arrayBuffer())
      const ownerMs = Number(header(answer.headers, OWNER_TIME_HEADER))
      const total = clock.now() - started
      metrics.forwardingLatency.observe({ peer: peer.label }, Math.max(0, total - (Number.isFinite(ownerMs) ? ownerMs : 0)) / 1000)
      const refusal = header(answer.headers, PROOF_REFUSED_HEADER)
      if (refusal !== undefined) {
        count('refused')
        log.error({ peer: peer.label, reason: refusal }, 'peer refused our forwarding proof: check that every node has the same peerSecret and a synchronised clock')
        return { kind: 'unknown-session' }
      }
      if (header(answer.headers, DROP_HEADER) !== undefined) {
        count('dropped')
        return { kind: 'drop' }
      }
      count('answered')
      const passed: Record<string, string> = {}
      for (const name of PASSED_HEADERS) {
        const value = header(answer.headers, name)
        if (value !== undefined) passed[name] = value
      }
      return { kind: 'answer', status: answer.statusCode, headers: passed, body }
    } catch (error) {
      if (this.#closing) {
        count('shutdown')
        return { kind: 'drop' }
      }
      if (clientGone) {
        count('client-gone')
        return { kind: 'gone' }
      }
      count('unreachable')
      log.warn({ peer: peer.label, err: (error as { code?: string }).code ?? String(error) }, 'peer did not answer a forwarded request; the client is told item-not-found')
      return { kind: 'unknown-session' }
    } finally {
      this.#inFlight.delete(controller)
    }
  }

  /** Stop: abort what is in flight (each client sees its connection close and repeats its rid, §14.3) and close the pools. */
  async close(): Promise<void> {
    this.#closing = true
    for (const controller of this.#inFlight) controller.abort()
    await Promise.all([...this.#pools.values()].map((pool) => pool.destroy()))
  }
}
