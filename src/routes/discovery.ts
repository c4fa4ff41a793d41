/**
 * XEP-0156 (Discovering Alternative XMPP Connection Methods): host-meta in
 * XRD and JSON form, advertising this listener's BOSH and WebSocket URLs, so
 * clients such as Converse.js (`discover_connection_methods`) find them.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { escapeAttribute } from '../core/xml/serialize.js'

export interface DiscoveryOptions {
  /** Configured public URL prefix ('' derives one from the request). */
  readonly publicUrl: string
  readonly boshPath: string
  readonly websocketPath: string
  /** Whether the client reached us over TLS (directly or through a trusted proxy). */
  readonly secure: (request: FastifyRequest) => boolean
}

const BOSH_REL = 'urn:xmpp:alt-connections:xbosh'
const WEBSOCKET_REL = 'urn:xmpp:alt-connections:websocket'
/** host[:port], a DNS name, IPv4 or bracketed IPv6: anything else is not echoed back. */
const HOST_HEADER = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/

function links(options: DiscoveryOptions, request: FastifyRequest): Array<{ rel: string; href: string }> | undefined {
  let base = options.publicUrl
  if (base === '') {
    const host = request.headers.host
    if (host === undefined || !HOST_HEADER.test(host)) return undefined
    // The scheme the client used: TLS on our listener, or X-Forwarded-Proto from a trusted proxy.
    base = `${options.secure(request) ? 'https' : 'http'}://${host}`
  }
  const url = new URL(base)
  const prefix = url.pathname.replace(/\/$/, '')
  const http = `${url.protocol}//${url.host}${prefix}`
  const ws = `${url.protocol === 'https:' ? 'wss:' : 'ws:'}//${url.host}${prefix}`
  return [
    { rel: BOSH_REL, href: http + options.boshPath },
    { rel: WEBSOCKET_REL, href: ws + options.websocketPath },
  ]
}

export function registerDiscovery(app: FastifyInstance, options: DiscoveryOptions): void {
  const common = {
    // Public information for any origin (XEP-0156 §3: host-meta is fetched cross-origin).
    'access-control-allow-origin': '*',
    // Derived from the Host header: never let a shared cache serve one host's answer to another.
    'cache-control': options.publicUrl === '' ? 'no-store' : 'public, max-age=3600',
  }
  app.get('/.well-known/host-meta', async (request, reply) => {
    const found = links(options, request)
    if (!found) return reply.code(400).header('content-type', 'text/plain; charset=utf-8').send('Bad Host header\n')
    const body =
      `<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n` +
      found.map((link) => `  <Link rel="${escapeAttribute(link.rel)}" href="${escapeAttribute(link.href)}"/>\n`).join('') +
      `</XRD>\n`
    return reply.headers({ ...common, 'content-type': 'application/xrd+xml; charset=utf-8' }).send(body)
  })
  app.get('/.well-known/host-meta.json', async (request, reply) => {
    const found = links(options, request)
    if (!found) return reply.code(400).header('content-type', 'text/plain; charset=utf-8').send('Bad Host header\n')
    return reply.headers({ ...common, 'content-type': 'application/json; charset=utf-8' }).send(JSON.stringify({ links: found }))
  })
}
