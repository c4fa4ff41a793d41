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

/** The server certificate as an operator needs to see it (never the key, never the whole PEM). */
export interface CertificateFacts {
  readonly subject: string
  readonly issuer: string
  readonly validFrom: string
  readonly validTo: string
  /** subjectAltName as Node gives it: `DNS:a.example, DNS:b.example`. */
  readonly altNames: string
  readonly selfSigned: boolean
  readonly fingerprint256: string
}

/** What went wrong in a TLS handshake, for the operator's diagnosis. */
export interface TlsFailureFacts {
  /** OpenSSL / Node verification code (`DEPTH_ZERO_SELF_SIGNED_CERT`, `ERR_TLS_CERT_ALTNAME_INVALID`, …). */
  readonly verifyError?: string
  /** A handshake error that is not a verification result (`ERR_SSL_WRONG_VERSION_NUMBER`, …). */
  readonly handshakeError?: string
  readonly certificate?: CertificateFacts
  /** The name the certificate had to carry: the XMPP domain. */
  readonly expectedName: string
}

/** A failed step: typed cause, text safe for the client, detail (codes, addresses) for the log. */
export interface ConnectFailure {
  readonly ok: false
  readonly cause: UpstreamFailureCause
  readonly text: string
  readonly detail: string
  /** Where the attempt went. */
  readonly endpoint?: Endpoint
  readonly tls?: TlsFailureFacts
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
    if (error === undefined) return { ok: false, cause: 'network', text: 'could not reach the XMPP server', detail: `connect to ${where} abandoned`, endpoint }
    if (error.code === 'ECONNREFUSED') return { ok: false, cause: 'refused', text: 'the XMPP server refused the connection', detail: `connect to ${where}: ECONNREFUSED`, endpoint }
    if (error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') return { ok: false, cause: 'dns', text: 'the XMPP server could not be located', detail: `connect to ${where}: ${error.code}`, endpoint }
    return { ok: false, cause: 'network', text: 'could not reach the XMPP server', detail: `connect to ${where}: ${error.code ?? error.message}`, endpoint }
  })
}

/** The facts of a peer certificate worth a log line. */
export function certificateFacts(cert: tls.PeerCertificate | undefined): CertificateFacts | undefined {
  if (!cert || Object.keys(cert).length === 0) return undefined
  const name = (dn: tls.Certificate | undefined) =>
    dn === undefined
      ? ''
      : Object.entries(dn)
          .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join('+') : String(value)}`)
          .join(', ')
  const subject = name(cert.subject)
  const issuer = name(cert.issuer)
  return {
    subject,
    issuer,
    validFrom: cert.valid_from,
    validTo: cert.valid_to,
    altNames: cert.subjectaltname ?? '',
    selfSigned: subject === issuer,
    fingerprint256: cert.fingerprint256,
  }
}

/**
 * TLS over an open TCP connection: direct TLS (XEP-0368, ALPN xmpp-client)
 * or, after `<proceed/>`, STARTTLS (RFC 6120 §5.4.3.3).
 *
 * Verification is never optional: the chain against the system CAs (or
 * `upstreamCaFile`) and the XMPP domain against the certificate. It is done
 * when the handshake completes rather than inside it (Node's
 * `rejectUnauthorized: false` plus the `authorized` check, its documented
 * pattern), so a refused certificate can still be described to the
 * operator; nothing is written to a connection that failed it, and it is
 * destroyed at once.
 */
export function secure(socket: net.Socket, domain: string, settings: TlsSettings, track: (socket: net.Socket) => void, alpn?: string): Promise<Connected<tls.TLSSocket>> {
  const isIp = net.isIP(domain) !== 0
  const secured = tls.connect({
    socket,
    // SNI must be a host name; the identity check below covers IP literals.
    ...(isIp ? {} : { servername: domain }),
    ...(settings.ca !== undefined ? { ca: settings.ca } : {}),
    ...(alpn ? { ALPNProtocols: [alpn] } : {}),
    rejectUnauthorized: false,
    // The XMPP domain, not the socket address, is what the certificate must name.
    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(domain, cert),
  })
  track(secured)
  const handshake = whenReady(secured, 'secureConnect', (error) => ({
    ok: false,
    cause: 'tls',
    text: 'TLS with upstream failed',
    detail: error === undefined ? 'TLS handshake abandoned' : `TLS with upstream failed: ${error.code ?? error.message}`,
    ...(error !== undefined ? { tls: { handshakeError: error.code ?? error.message, expectedName: domain } } : {}),
  }))
  return handshake.then((result): Connected<tls.TLSSocket> => {
    if (!result.ok || result.socket.authorized) return result
    // authorizationError is the verification code (a string at run time, whatever the typings say).
    const code = String(result.socket.authorizationError as unknown)
    const certificate = certificateFacts(result.socket.getPeerCertificate(false))
    result.socket.destroy()
    return {
      ok: false,
      cause: 'tls',
      text: 'TLS with upstream failed: the server certificate was not accepted',
      detail: `TLS with upstream failed: ${code}`,
      tls: { verifyError: code, expectedName: domain, ...(certificate ? { certificate } : {}) },
    }
  })
}
