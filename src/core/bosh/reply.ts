/**
 * What goes back on one HTTP request, and the single place a terminal
 * binding condition becomes wire form (XEP-0124 §17.1, §17.2): a
 * `type='terminate'` body, or for a legacy client (no 'ver' at creation)
 * the deprecated HTTP status code the spec table gives.
 */
import type { BoshCondition } from '../conditions.js'
import type { BodyAttrs, Payload } from './payload.js'
import { buildBody, buildTerminateBody } from './payload.js'

/** §7.1: "If the client request does not possess a 'content' attribute ... MUST be text/xml; charset=utf-8". */
export const DEFAULT_CONTENT_TYPE = 'text/xml; charset=utf-8'

/** The deprecated HTTP error codes of §17.1. */
export type LegacyStatus = 400 | 403 | 404

export type BoshReply =
  /** HTTP 200 with this body (UTF-8 bytes) and Content-Type. */
  | { readonly status: 200; readonly body: Uint8Array; readonly contentType: string }
  /** A legacy client's terminal error: this status and an empty body. */
  | { readonly status: LegacyStatus; readonly condition: BoshCondition; readonly contentType: string }

/**
 * Supplied by the HTTP adapter, one per HTTP request. The core calls
 * `respond` exactly once for every request it is handed.
 */
export interface BoshResponder {
  respond(reply: BoshReply): void
  /**
   * Close the HTTP connection without any answer (§19: a request that must
   * not be served at all). Responders that cannot do that answer 403 instead.
   */
  drop?(): void
  /**
   * Call `gone` if the HTTP connection closes before this request is
   * answered (the client navigated away, or its network dropped), so a
   * held request nobody waits for does not swallow the next stanzas.
   */
  whenGone?(gone: () => void): void
}

/**
 * §17.2: "If the client did not include a 'ver' attribute in its session
 * creation request then the connection manager SHOULD send a deprecated
 * HTTP Error Condition instead" — only the three conditions marked so.
 */
export const LEGACY_HTTP_STATUS: Readonly<Partial<Record<BoshCondition, LegacyStatus>>> = {
  'bad-request': 400,
  'policy-violation': 403,
  'item-not-found': 404,
}

export function okReply(body: Uint8Array, contentType: string = DEFAULT_CONTENT_TYPE): BoshReply {
  return { status: 200, body, contentType }
}

/**
 * §17.3 recoverable binding condition: `type='error'` tells the client to
 * repeat this request and the unanswered ones before it; the session lives on.
 */
export function recoverableReply(contentType: string = DEFAULT_CONTENT_TYPE): BoshReply {
  return okReply(buildBody({ type: 'error' }), contentType)
}

export interface TerminalReplyOptions {
  /** Absent for a plain end of session (§13 answer to the client's terminate, an upstream close). */
  readonly condition?: BoshCondition
  /** The session's client sent no 'ver' (§17.1). */
  readonly legacy?: boolean
  readonly payload?: readonly Payload[]
  readonly attrs?: BodyAttrs
  readonly contentType?: string
}

/** Every terminal answer, session or not, is made here. */
export function terminalReply(options: TerminalReplyOptions = {}): BoshReply {
  const contentType = options.contentType ?? DEFAULT_CONTENT_TYPE
  const condition = options.condition
  if (condition !== undefined && options.legacy) {
    const status = LEGACY_HTTP_STATUS[condition]
    if (status !== undefined) return { status, condition, contentType }
  }
  return okReply(buildTerminateBody(condition, options.payload, options.attrs), contentType)
}
