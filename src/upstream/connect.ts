/**
 * Opening the transport to the upstream server: TCP, direct TLS (XEP-0368)
 * or SRV (RFC 6120 §3.2), and the STARTTLS upgrade. Certificates are always
 * verified against the XMPP domain (RFC 6120 §13.7.2); there is no switch to
 * turn that off.
 *
 * Failures are results, not exceptions: a refused or failed connection is an
 * expected outcome with a typed cause. No deadline lives here: the
 * ClientStream's connect deadline destroys whatever is still pending.
 */
import net from 'node:net'
import tls from 'node:tls'
import { promises as dns } from 'node:dns'
import type { UpstreamFailureCause } from '../core/xmpp/upstream-port.js'
import type { UpstreamTarget } from './routing.js'

/** Where one connection attempt goes. */
export interface Endpoint {
  readonly host: string
  readonly port: number
  readonly directTls: boolean
}

export interface TlsSettings {
  /** PEM CA bundle replacing the system store, when configured. */
  readonly ca?: string | undefined
}

export type SrvResolver = (name: string) => Promise<{ name: string; port: number; priority: number; weight: number }[]>

/** A failed step: typed cause, text safe for the client, detail (codes, addresses) for the log. */
export interface ConnectFailure {
  readonly ok: false
  readonly cause: UpstreamFailureCause
  readonly text: string
  readonly detail: string
}

export type Connected<S extends net.Socket> = { readonly ok: true; readonly socket: S } | ConnectFailure

/** The endpoints to try, in order, for a target. */
export async function endpointsFor(target: UpstreamTarget, domain: string, resolveSrv: SrvResolver = dns.resolveSrv): Promise<Endpoint[]> {
  switch (target.kind) {
    case 'tcp':
    case 'starttls':
      return [{ host: target.host, port: target.port, directTls: false }]
    case 'tls':
      return [{ host: target.host, port: target.port, directTls: true }]
    case 'srv': {
      const lookup = async (service: string, directTls: boolean): Promise<Endpoint[]> => {
        try {
          const records = await resolveSrv(`${service}._tcp.${domain}`)
          // RFC 2782: lower priority first; a lone "." target means "no service".
          return records
            .filter((r) => r.name !== '' && r.name !== '.')
            .sort((a, b) => a.priority - b.priority || b.weight - a.weight)
            .map((r) => ({ host: r.name, port: r.port, directTls }))
        } catch {
          return []
        }
      }
      const found = [...(await lookup('_xmpp-client', false)), ...(await lookup('_xmpps-client', true))]
      // RFC 6120 §3.2.2: without SRV records, fall back to the domain itself on 5222.
      return found.length > 0 ? found : [{ host: domain, port: 5222, directTls: false }]
    }
  }
}

/**
 * Wait for a connecting socket to become ready, fail or be destroyed by its
 * owner (the connect deadline). The socket is destroyed on failure.
 */
function whenReady<S extends net.Socket>(socket: S, readyEvent: 'connect' | 'secureConnect', failure: (error: NodeJS.ErrnoException | undefined) => ConnectFailure): Promise<Connected<S>> {
  return new Promise((resolve) => {
    const onReady = () => {
      socket.off('error', onError)
      socket.off('close', onClose)
      resolve({ ok: true, socket })
    }
    const onError = (error: NodeJS.ErrnoException) => {
      socket.off(readyEvent, onReady)
      socket.off('close', onClose)
      socket.destroy()
      resolve(failure(error))
    }
    const onClose = () => {
      socket.off(readyEvent, onReady)
      socket.off('error', onError)
      resolve(failure(undefined))
    }
    socket.once(readyEvent, onReady)
    socket.once('error', onError)
    socket.once('close', onClose)
  })
}

/** One TCP connection; `track` learns the socket at once so its owner can destroy it. */
export function openTcp(endpoint: Endpoint, track: (socket: net.Socket) => void): Promise<Connected<net.Socket>> {
  const where = `${endpoint.host}:${endpoint.port}`
  const socket = net.connect({ host: endpoint.host, port: endpoint.port })
  track(socket)
  return whenReady(socket, 'connect', (error) => {
    if (error === undefined) return { ok: false, cause: 'network', text: 'could not reach the XMPP server', detail: `connect to ${where} abandoned` }
    if (error.code === 'ECONNREFUSED') return { ok: false, cause: 'refused', text: 'the XMPP server refused the connection', detail: `connect to ${where}: ECONNREFUSED` }
    if (error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') return { ok: false, cause: 'dns', text: 'the XMPP server could not be located', detail: `connect to ${where}: ${error.code}` }
    return { ok: false, cause: 'network', text: 'could not reach the XMPP server', detail: `connect to ${where}: ${error.code ?? error.message}` }
  })
}

/**
 * TLS over an open TCP connection: direct TLS (XEP-0368, ALPN xmpp-client)
 * or, after `<proceed/>`, STARTTLS (RFC 6120 §5.4.3.3).
 */
export function secure(socket: net.Socket, domain: string, settings: TlsSettings, track: (socket: net.Socket) => void, alpn?: string): Promise<Connected<tls.TLSSocket>> {
  const isIp = net.isIP(domain) !== 0
  const secured = tls.connect({
    socket,
    // SNI must be a host name; the identity check below covers IP literals.
    ...(isIp ? {} : { servername: domain }),
    ...(settings.ca !== undefined ? { ca: settings.ca } : {}),
    ...(alpn ? { ALPNProtocols: [alpn] } : {}),
    rejectUnauthorized: true,
    // The XMPP domain, not the socket address, is what the certificate must name.
    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(domain, cert),
  })
  track(secured)
  return whenReady(secured, 'secureConnect', (error) => ({
    ok: false,
    cause: 'tls',
    text: 'TLS with upstream failed',
    detail: error === undefined ? 'TLS handshake abandoned' : `TLS with upstream failed: ${error.code ?? error.message}`,
  }))
}
