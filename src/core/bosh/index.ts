/**
 * The BOSH core's public surface (XEP-0124 v1.11, XEP-0206): what an HTTP
 * adapter needs, re-exported from the modules that own each concept.
 */
export { parseBody, parseRoute, MAX_RID } from './body.js'
export type { BodyLimits, BodyParseResult, BoshFailure, BoshRequest, BoshRoute, BoshVersion, CreateRequest, SessionRequest } from './body.js'
export { HoldQueue } from './hold-queue.js'
export { BoshCounters } from './metrics.js'
export type { BoshMetrics, EndReason, RefusalReason, SessionEnd } from './metrics.js'
export { BOSH_VERSION, negotiate } from './negotiate.js'
export type { Negotiation, SessionParams } from './negotiate.js'
export { BoshOptionsError, DEFAULT_BOSH_OPTIONS, resolveBoshOptions } from './options.js'
export type { BoshOptions } from './options.js'
export { buildBody, buildTerminateBody, uriPayload } from './payload.js'
export type { BodyAttrs, Payload } from './payload.js'
export { DEFAULT_CONTENT_TYPE, LEGACY_HTTP_STATUS, okReply, terminalReply } from './reply.js'
export type { BoshReply, BoshResponder, LegacyStatus, TerminalReplyOptions } from './reply.js'
export { ResponseCache } from './response-cache.js'
export { RidWindow } from './rid-window.js'
export { BoshSession } from './session.js'
export type { SessionDeps, SessionHooks, SessionState } from './session.js'
export { BoshSessionRegistry, SID_PATTERN } from './session-registry.js'
export type { RegistryDeps, RequestContext, TargetVerdict, UpstreamContext } from './session-registry.js'
export type { UpstreamEnd, UpstreamHeader, UpstreamOpenRequest, UpstreamPort, UpstreamSink } from './upstream-port.js'
