/**
 * Opening the transport to the upstream server: TCP, direct TLS (XEP-0368)
 * or SRV (RFC 6120 §3.2), and the STARTTLS upgrade. Certificates are always
 * verified against the XMPP domain (RFC 6120 §13.7.2); there is no switch to
 * turn that off.
 */
import net from 'node:net'
import tls from 'node:tls'
import { promises as dns } from 'node:dns'
import type { UpstreamTarget } from './routing.js'

/** Where one connection attempt goes. */
export interface Endpoint {
  readonly host: string
  readonly port: number
  readonly directTls: boolean
}

export class ConnectError extends Error {
  constructor(
    message: string,
    /** Short machine label for metrics: timeout, refused, tls, dns, … */
    readonly reason: string,
  ) {
    super(message)
    this.name = 'ConnectError'
  }
}

export interface TlsSettings {
  /** PEM CA bundle replacing the system store, when configured. */
  readonly ca?: string | undefined
}

export type SrvResolver = (name: string) => Promise<{ name: string; port: number; priority: number; weight: number }[]>

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
 * Connect to the first endpoint that answers, within `timeoutMs` overall.
 * `preamble` (a PROXY protocol header) is written first on the TCP
 * connection, before any TLS.
 */
export async function connectFirst(
  endpoints: Endpoint[],
  domain: string,
  settings: TlsSettings,
  timeoutMs: number,
  preamble?: Uint8Array,
): Promise<{ socket: net.Socket; endpoint: Endpoint }> {
  const deadline = Date.now() + timeoutMs
  let lastError: ConnectError = new ConnectError('no upstream endpoint', 'dns')
  for (const endpoint of endpoints) {
    const left = deadline - Date.now()
    if (left <= 0) break
    try {
      const socket = await openTcp(endpoint, left)
      if (preamble) socket.write(preamble)
      if (!endpoint.directTls) return { socket, endpoint }
      // XEP-0368 direct TLS over the connection we opened.
      return { socket: await secure({ socket }, domain, settings, Math.max(1, deadline - Date.now()), 'xmpp-client'), endpoint }
    } catch (error) {
      lastError = error instanceof ConnectError ? error : new ConnectError(String(error), 'error')
    }
  }
  throw lastError
}

/**
 * Wait for `readyEvent` on a connecting socket, within `timeoutMs`. On
 * timeout or error the socket is destroyed and the promise rejects with the
 * ConnectError the caller describes.
 */
function whenReady<S extends net.Socket>(
  socket: S,
  readyEvent: 'connect' | 'secureConnect',
  timeoutMs: number,
  failure: (error: NodeJS.ErrnoException | undefined) => ConnectError,
): Promise<S> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy()
      reject(failure(undefined))
    }, timeoutMs)
    socket.once(readyEvent, () => {
      clearTimeout(timer)
      socket.removeAllListeners('error')
      resolve(socket)
    })
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      socket.destroy()
      reject(failure(error))
    })
  })
}

function openTcp(endpoint: Endpoint, timeoutMs: number): Promise<net.Socket> {
  const where = `${endpoint.host}:${endpoint.port}`
  return whenReady(net.connect({ host: endpoint.host, port: endpoint.port }), 'connect', timeoutMs, (error) =>
    error === undefined
      ? new ConnectError(`connect to ${where} timed out`, 'timeout')
      : new ConnectError(`connect to ${where} failed: ${error.code ?? error.message}`, error.code === 'ECONNREFUSED' ? 'refused' : 'network'),
  )
}

/** RFC 6120 §5.4.3.3: after `<proceed/>`, TLS runs over the same TCP connection. */
export function startTls(socket: net.Socket, domain: string, settings: TlsSettings, timeoutMs: number): Promise<tls.TLSSocket> {
  return secure({ socket }, domain, settings, timeoutMs)
}

function secure(
  where: { socket: net.Socket },
  domain: string,
  settings: TlsSettings,
  timeoutMs: number,
  alpn?: string,
): Promise<tls.TLSSocket> {
  const isIp = net.isIP(domain) !== 0
  const socket = tls.connect({
    ...where,
    // SNI must be a host name; the identity check below covers IP literals.
    ...(isIp ? {} : { servername: domain }),
    ...(settings.ca !== undefined ? { ca: settings.ca } : {}),
    ...(alpn ? { ALPNProtocols: [alpn] } : {}),
    rejectUnauthorized: true,
    // The XMPP domain, not the socket address, is what the certificate must name.
    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(domain, cert),
  })
  return whenReady(socket, 'secureConnect', timeoutMs, (error) =>
    error === undefined ? new ConnectError('TLS handshake timed out', 'timeout') : new ConnectError(`TLS with upstream failed: ${error.code ?? error.message}`, 'tls'),
  )
}
