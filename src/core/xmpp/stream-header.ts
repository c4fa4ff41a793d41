/**
 * The RFC 6120 §4.7 stream header Causeway sends upstream on behalf of a
 * client, and the attributes it keeps from the upstream's answer.
 */
import { escapeAttribute, escapeText } from '../xml/serialize.js'
import type { Element } from 'ltx'
import { NS } from '../conditions.js'

export interface StreamOpenRequest {
  /** The XMPP domain the client asked for (already routed and normalised). */
  readonly to: string
  readonly lang?: string
  readonly from?: string
}

/** The upstream's stream attributes that both transports hand to the client. */
export interface StreamInfo {
  readonly from?: string
  readonly id?: string
  readonly version?: string
  readonly lang?: string
}

export function streamHeader(open: StreamOpenRequest): string {
  let header = `<?xml version='1.0'?><stream:stream xmlns='${NS.client}' xmlns:stream='${NS.stream}' to='${escapeAttribute(open.to)}' version='1.0'`
  if (open.lang) header += ` xml:lang='${escapeAttribute(open.lang)}'`
  if (open.from) header += ` from='${escapeAttribute(open.from)}'`
  return header + '>'
}

export const STREAM_CLOSE = '</stream:stream>'

export function streamInfo(header: Element): StreamInfo {
  // One literal, every key present (undefined when absent): all headers share one hidden class.
  const attrs = header.attrs
  return { from: attrs.from, id: attrs.id, version: attrs.version, lang: attrs['xml:lang'] }
}

/** RFC 6120 §4.7.5: the root must be `stream` in the streams namespace, prefix `stream`, default ns jabber:client. */
export function checkStreamHeader(header: Element): 'ok' | 'invalid-namespace' | 'bad-namespace-prefix' | 'unsupported-version' {
  if (header.getName() !== 'stream' || header.getNS() !== NS.stream) {
    return header.name.includes(':') && header.getName() === 'stream' && header.getNS() === undefined ? 'bad-namespace-prefix' : 'invalid-namespace'
  }
  if (header.attrs.xmlns !== NS.client) return 'invalid-namespace'
  const version = header.attrs.version
  if (version === undefined || !/^1\.\d+$/.test(version)) return 'unsupported-version'
  return 'ok'
}

/** A `<stream:error>` element for a condition, namespaced for standalone use. */
export function streamErrorXml(condition: string, text?: string): string {
  let xml = `<stream:error xmlns:stream='${NS.stream}'><${condition} xmlns='${NS.streams}'/>`
  if (text) xml += `<text xmlns='${NS.streams}'>${escapeText(text)}</text>`
  return xml + '</stream:error>'
}
