/**
 * When an upstream fails, the operator hears it once per cause per upstream
 * per `logRepeatIntervalMs` at `warn`: which domain, which server and mode,
 * what happened (for TLS: the certificate's subject, issuer, validity and
 * the verification error) and what to do about it, in words. The client is
 * told the spec condition and a short text only (`remote-connection-failed`,
 * see docs/conditions.md); the session's own `info` line carries the detail.
 */
import type { StreamCondition } from '../core/conditions.js'
import type { UpstreamFailureCause } from '../core/xmpp/upstream-port.js'
import type { Logger } from '../observability/logger.js'
import type { RepeatGate } from '../observability/repeat-gate.js'
import type { Endpoint, TlsFailureFacts } from './connect.js'
import { describeTarget } from './routing.js'
import type { UpstreamTarget } from './routing.js'

export interface UpstreamFailureReport {
  /** The upstream's label: its configured domain, or `*`. */
  readonly upstream: string
  /** The XMPP domain the session asked for. */
  readonly domain: string
  readonly target: UpstreamTarget
  readonly endpoint?: Endpoint | undefined
  readonly cause: UpstreamFailureCause
  readonly opened: boolean
  readonly detail?: string | undefined
  readonly tls?: TlsFailureFacts | undefined
  /** The text the client was told. */
  readonly text: string
}

export interface StreamRefusalReport {
  readonly upstream: string
  readonly domain: string
  readonly target: UpstreamTarget
  readonly endpoint?: Endpoint | undefined
  readonly condition: StreamCondition
  /** The server's own `<text/>`, if any (bounded). */
  readonly serverText?: string | undefined
  /** The link was encrypted (or loopback) when the server refused. */
  readonly secure: boolean
}

const MODE: Readonly<Record<UpstreamTarget['kind'], string>> = {
  tcp: 'tcp (STARTTLS when offered)',
  starttls: 'starttls (STARTTLS required)',
  tls: 'tls (direct TLS, XEP-0368)',
  srv: 'srv (DNS SRV records)',
}

function server(report: { readonly target: UpstreamTarget; readonly endpoint?: Endpoint | undefined }): string {
  const endpoint = report.endpoint
  if (endpoint) return `${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`
  return describeTarget(report.target).replace(/^[a-z]+:\/\//, '')
}

/** The remedy for a certificate the verification refused, in words. */
function certificateFix(tls: TlsFailureFacts, caConfigured: boolean): string {
  const code = tls.verifyError ?? ''
  const name = tls.expectedName
  switch (code) {
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
      return (
        `the server's certificate is self-signed: give Causeway that certificate (or the CA that signed it) with upstreamCaFile, ` +
        `or give the server a certificate from a CA in the system store (e.g. Let's Encrypt) for "${name}"`
      )
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return caConfigured
        ? 'the certificate was signed by a CA that is not in upstreamCaFile: put that CA (not just the server certificate) in the file, or make the server send its full chain (intermediates included)'
        : 'the certificate was signed by a CA Causeway does not trust: for a private CA set upstreamCaFile to it; for a public CA make the server send its full chain (intermediates included)'
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
    case 'HOSTNAME_MISMATCH':
      return (
        `the certificate does not name the XMPP domain "${name}" (it names ${tls.certificate?.altNames || 'no subjectAltName'}): ` +
        `Causeway checks the XMPP domain, not the host in the upstream URL (RFC 6120 §13.7.2), so the server needs a certificate whose subjectAltName carries "${name}"`
      )
    case 'CERT_HAS_EXPIRED':
      return `the certificate expired on ${tls.certificate?.validTo ?? 'its end date'}: renew it on the server (and check the server reloads it)`
    case 'CERT_NOT_YET_VALID':
      return `the certificate is valid only from ${tls.certificate?.validFrom ?? 'a later date'}: check the clocks of both hosts`
    default:
      return `the certificate failed verification (${code}): check the certificate chain the server sends, and upstreamCaFile for a private CA`
  }
}

function handshakeFix(code: string, target: UpstreamTarget): string {
  if (/WRONG_VERSION_NUMBER|UNKNOWN_PROTOCOL|PACKET_LENGTH_TOO_LONG|RECORD_LAYER/.test(code)) {
    return target.kind === 'tls'
      ? 'the server did not answer in TLS: tls:// is for direct-TLS ports (usually 5223); for the client port 5222 use starttls:// (or tcp://)'
      : 'the server did not speak TLS after <proceed/>: check its TLS configuration'
  }
  return `the TLS handshake failed (${code}): check the server's TLS versions and ciphers (Node needs TLS 1.2 or later)`
}

/** The remedy for each cause, in words. */
export function fixFor(report: UpstreamFailureReport, caConfigured: boolean): string {
  const where = server(report)
  switch (report.cause) {
    case 'refused':
      return `nothing accepts connections at ${where}: start the XMPP server, or correct the host and port in the upstream rule for ${report.upstream}`
    case 'dns':
      return `${where} could not be resolved: check the host name in the upstream rule (or the SRV records of ${report.domain}) and the DNS resolver of this host`
    case 'timeout':
      return `${where} did not complete an XMPP stream within upstreamConnectTimeoutMs: a firewall dropping packets, a wrong port (an HTTP or s2s port answers nothing a client expects), or an overloaded server`
    case 'network':
      return `the connection to ${where} failed or closed before the stream opened: a port that is not an XMPP client port (for tcp:// and starttls:// usually 5222), a proxy or firewall in between, or the server refusing this address (check its logs)`
    case 'tls':
      if (report.tls?.verifyError !== undefined) return certificateFix(report.tls, caConfigured)
      if (report.tls?.handshakeError !== undefined) return handshakeFix(report.tls.handshakeError, report.target)
      if (/does not offer STARTTLS/.test(report.text)) {
        return (
          `the server at ${where} offers no STARTTLS, which starttls:// requires: give the server a certificate (Prosody: ssl or certificates; ejabberd: certfiles and starttls: true), ` +
          `or use tcp:// if the link never leaves a trusted network`
        )
      }
      return 'the server refused STARTTLS: check that it has a certificate for the domain it serves'
    case 'protocol':
      return `the server at ${where} broke the XMPP stream rules (${report.detail ?? report.text}): is that port an XMPP client port? A direct-TLS port (5223) needs tls://`
    case 'lost':
      return `the connection to ${where} was lost: check the server's logs for a restart or crash, and anything in between that cuts idle connections`
    case 'not-reading':
      return `the server at ${where} stopped reading: it is overloaded or stuck; check its logs and CPU`
  }
}

/** The remedy when the server ends our stream with a stream error before offering any features. */
export function refusalFix(report: StreamRefusalReport): string {
  switch (report.condition) {
    case 'host-unknown':
      return `the server does not serve the domain "${report.domain}": add it as a VirtualHost (Prosody) or to hosts (ejabberd), or correct the upstream rule`
    case 'improper-addressing':
      return `the server refused the domain "${report.domain}" as an address: check the upstream rule`
    case 'undefined-condition':
    case 'policy-violation':
    case 'not-authorized':
      if (!report.secure) {
        return (
          'the server offered nothing over an unencrypted connection: it requires encryption (Prosody c2s_require_encryption = true, the default) but offers no STARTTLS. ' +
          'Give it a certificate for the domain (Prosody: ssl or certificates) so Causeway uses STARTTLS (then write starttls:// to insist on it), or, if the link never leaves a trusted network, ' +
          'declare Causeway\'s address secure (Prosody 13: secure_interfaces = { "<Causeway\'s address as the server sees it>" }; Prosody 0.12: c2s_require_encryption = false)'
        )
      }
      return 'the server offered no stream features on an encrypted connection: check its authentication settings (SASL mechanisms for this domain)'
    default:
      return `the server refused the stream with ${report.condition}${report.serverText ? ` ("${report.serverText}")` : ''}: see the server's logs`
  }
}

export class UpstreamDiagnostics {
  constructor(
    private readonly log: Logger,
    private readonly gate: RepeatGate,
    /** upstreamCaFile is set: changes the advice for an untrusted chain. */
    private readonly caConfigured: boolean,
  ) {}

  /** An upstream stream failed (before or after opening). */
  failed(report: UpstreamFailureReport): void {
    const reason = report.tls?.verifyError ?? report.tls?.handshakeError ?? report.cause
    const verdict = this.gate.admit(`failed ${report.upstream} ${report.cause} ${reason}`)
    if (!verdict.log) return
    const tls = report.tls
    this.log.warn(
      {
        upstream: report.upstream,
        domain: report.domain,
        server: server(report),
        mode: MODE[report.target.kind],
        cause: report.cause,
        opened: report.opened,
        ...(report.detail !== undefined ? { detail: report.detail } : {}),
        ...(tls?.verifyError !== undefined ? { verifyError: tls.verifyError } : {}),
        ...(tls?.handshakeError !== undefined ? { handshakeError: tls.handshakeError } : {}),
        ...(tls?.certificate ? { certificate: tls.certificate } : {}),
        repeats: verdict.repeats,
        fix: fixFor(report, this.caConfigured),
      },
      report.opened ? 'upstream connection lost' : 'upstream unreachable',
    )
  }

  /** The server ended our stream with `<stream:error/>` before it offered features: nothing a client could do. */
  refused(report: StreamRefusalReport): void {
    const verdict = this.gate.admit(`refused ${report.upstream} ${report.condition}`)
    if (!verdict.log) return
    this.log.warn(
      {
        upstream: report.upstream,
        domain: report.domain,
        server: server(report),
        mode: MODE[report.target.kind],
        condition: report.condition,
        ...(report.serverText !== undefined ? { serverText: report.serverText } : {}),
        secure: report.secure,
        repeats: verdict.repeats,
        fix: refusalFix(report),
      },
      'upstream refused the stream',
    )
  }
}
