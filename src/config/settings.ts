/**
 * The validated configuration, handed to each core as the settings it
 * knows: the option table stays the only source of every default and
 * bound, and this file is the only place an option becomes a core setting.
 */
import type { BoshOptions } from '../core/bosh/options.js'
import type { WebSocketSessionSettings } from '../core/websocket/session.js'
import { MAX_NAME_BYTES } from '../core/xml/limits.js'
import type { XmlLimits } from '../core/xml/stream-reader.js'
import type { ClientStreamSettings } from '../core/xmpp/client-stream.js'
import type { ConfigValues } from './options.js'

export type Settings = Omit<ConfigValues, 'upstream'>

/**
 * A BOSH client cannot be paused, so the server may leave this many
 * high-water marks of its output unread before the session fails (a
 * WebSocket client is paused at one).
 */
export const BOSH_UNSENT_HIGH_WATER_MARKS = 4

export function xmlLimits(config: Settings): XmlLimits {
  return {
    maxStanzaBytes: config.maxStanzaBytes,
    maxDepth: config.maxXmlDepth,
    maxAttributes: config.maxXmlAttributes,
    maxAttributeValueBytes: config.maxAttributeValueBytes,
    maxNameBytes: MAX_NAME_BYTES,
  }
}

export function boshOptions(config: Settings): BoshOptions {
  return {
    maxWaitMs: config.boshMaxWaitMs,
    maxHold: config.boshMaxHold,
    maxRequests: config.boshMaxRequests,
    inactivityMs: config.boshInactivityMs,
    maxPauseMs: config.boshMaxPauseMs,
    pollingMs: config.boshPollingMs,
    coalesceMs: config.boshCoalesceMs,
    maxBodyBytes: config.boshMaxBodyBytes,
    maxPendingBytes: config.writeBufferHighWaterBytes,
    maxUnsentBytes: BOSH_UNSENT_HIGH_WATER_MARKS * config.writeBufferHighWaterBytes,
  }
}

export function clientStreamSettings(config: Settings): ClientStreamSettings {
  return {
    limits: xmlLimits(config),
    connectTimeoutMs: config.upstreamConnectTimeoutMs,
    highWaterBytes: config.writeBufferHighWaterBytes,
    drainTimeoutMs: config.drainTimeoutMs,
    closeTimeoutMs: config.wsCloseTimeoutMs,
    preAuthTimeoutMs: config.preAuthTimeoutMs,
  }
}

export function webSocketSettings(config: Settings): WebSocketSessionSettings {
  const seeOtherUri = seeOtherUris(config)?.websocket
  return {
    limits: xmlLimits(config),
    openTimeoutMs: config.openTimeoutMs,
    pingIntervalMs: config.wsPingIntervalMs,
    closeTimeoutMs: config.wsCloseTimeoutMs,
    highWaterBytes: config.writeBufferHighWaterBytes,
    drainTimeoutMs: config.drainTimeoutMs,
    ...(seeOtherUri !== undefined ? { seeOtherUri } : {}),
  }
}

/**
 * `seeOtherUri` is the service's new URL prefix (like publicUrl): WebSocket
 * clients are sent to its ws(s) form plus websocketPath (RFC 7395 §3.6.1),
 * BOSH clients to it plus boshPath (XEP-0124 §17.2). The scheme keeps its
 * security: https becomes wss, http becomes ws (the config refuses a
 * downgrade from a TLS listener).
 */
export function seeOtherUris(config: Settings): { readonly websocket: string; readonly bosh: string } | undefined {
  if (config.seeOtherUri === '') return undefined
  const base = config.seeOtherUri.replace(/\/$/, '')
  return { websocket: base.replace(/^http/, 'ws') + config.websocketPath, bosh: base + config.boshPath }
}
