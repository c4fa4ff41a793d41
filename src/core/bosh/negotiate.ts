/**
 * Session creation terms (XEP-0124 §7.1, §7.2; XEP-0206 §3): a creation
 * request and our bounds in, the session's parameters (or the terminal
 * condition refusing it) out.
 */
import type { BoshFailure, BoshRoute, BoshVersion, CreateRequest } from './body.js'
import type { BoshOptions } from './options.js'
import { DEFAULT_CONTENT_TYPE } from './reply.js'

/** XEP-0124 time attributes are whole seconds; Causeway keeps milliseconds until the wire. */
export const SECOND_MS = 1000

/** The highest BOSH version we implement. */
const BOSH_VERSION: BoshVersion = { major: 1, minor: 11 }

export interface SessionParams {
  /** rid of the creation request. */
  readonly rid: number
  readonly to: string
  readonly lang?: string
  readonly from?: string
  readonly route?: BoshRoute
  /** The client asked for a secure link to the server (§7.1 'secure'). */
  readonly secure: boolean
  /** XEP-0206 §3 xmpp:version to forward upstream; '1.0' when the client sent none. */
  readonly xmppVersion: string
  /** §7.2 'wait' (whole seconds on the wire). */
  readonly waitMs: number
  readonly hold: number
  readonly requests: number
  /** §7.2 'inactivity'. */
  readonly inactivityMs: number
  /** §7.2 'polling'. */
  readonly pollingMs: number
  /** §7.2 'maxpause'; 0: pausing not offered. */
  readonly maxPauseMs: number
  /** min(client's, ours). */
  readonly ver: BoshVersion
  /** §17.1: the client sent no 'ver'. */
  readonly legacy: boolean
  /** §9: the client sent ack='1'. */
  readonly acks: boolean
  readonly contentType: string
  /** §15.4: first key of the sequence. */
  readonly newkey?: string
}

export type Negotiation = { readonly ok: true; readonly params: SessionParams } | { readonly ok: false; readonly failure: BoshFailure }

function compareVersions(a: BoshVersion, b: BoshVersion): number {
  return a.major !== b.major ? a.major - b.major : a.minor - b.minor
}

export function formatVersion(v: BoshVersion): string {
  return `${v.major}.${v.minor}`
}

export function negotiate(req: CreateRequest, options: BoshOptions): Negotiation {
  // §17.2 improper-addressing: "The initialization element lacks a 'to' or 'route' attribute (or the attribute has no value)".
  if (req.to === undefined) {
    return { ok: false, failure: { condition: 'improper-addressing', text: "missing 'to'" } }
  }
  // §7.2 'wait': "MUST be less than or equal to the value specified in the session request".
  const waitMs = req.wait === undefined ? options.maxWaitMs : Math.min(req.wait * SECOND_MS, options.maxWaitMs)
  // §7.2 'hold': "MUST NOT be greater than the value specified by the client". A client that
  // forbids waiting (wait='0') is polling, so nothing is held (§7.1 note).
  const hold = waitMs === 0 ? 0 : Math.min(req.hold ?? 1, options.maxHold)
  // §7.2 'requests': "The RECOMMENDED values are either '2' or one more than the value of the 'hold' attribute".
  const requests = Math.min(options.maxRequests, Math.max(2, hold + 1))
  const ver = req.ver !== undefined && compareVersions(req.ver, BOSH_VERSION) < 0 ? req.ver : BOSH_VERSION
  const params: SessionParams = {
    rid: req.rid,
    to: req.to,
    lang: req.lang,
    from: req.from,
    route: req.route,
    secure: req.secure ?? false,
    xmppVersion: req.xmppVersion ?? '1.0',
    waitMs,
    hold,
    requests,
    // §12: a polling session gets "a higher than normal value for the 'inactivity' attribute",
    // the increase "greater than the value it specifies for the 'polling' attribute".
    inactivityMs: hold === 0 ? options.inactivityMs + 2 * options.pollingMs : options.inactivityMs,
    pollingMs: options.pollingMs,
    maxPauseMs: options.maxPauseMs,
    ver,
    legacy: req.ver === undefined,
    acks: req.ack,
    contentType: req.content ?? DEFAULT_CONTENT_TYPE,
    newkey: req.newkey,
  }
  return { ok: true, params }
}
