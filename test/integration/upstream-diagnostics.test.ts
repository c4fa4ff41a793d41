/**
 * Diagnostics that say what to do, against the two Prosody setups a new
 * operator meets first: STARTTLS with a self-signed certificate, and the
 * default `c2s_require_encryption = true` with no certificate at all. Each
 * is reported once per cause per upstream at `warn`, with the facts (for
 * TLS: the certificate's subject, issuer, validity and the verification
 * error) and the fix in words; the client hears the spec condition and a
 * short text, never a library code. The fix the line gives is then applied
 * and works. Also `readyRequiresUpstream`: /readyz follows the upstream.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startCauseway } from '../helpers/causeway.js'
import type { RunningCauseway } from '../helpers/causeway.js'
import { post, HTTPBIND } from '../helpers/bosh-raw.js'
import { startProsody } from '../helpers/prosody.js'
import { makeSelfSignedCert } from '../helpers/tls.js'
import { eventually } from '../helpers/wait.js'
import { OPEN, rawClient } from '../helpers/ws-client.js'
import { connectClient } from '../helpers/xmpp-client.js'

const ALICE = { username: 'alice', password: 'alice-diag-pw' }
const WARN = 40

const warnings = (cw: RunningCauseway) => cw.logLines().filter((l) => l.level === WARN)

/** One WebSocket session that fails: everything the client was told. */
async function failingSession(cw: RunningCauseway): Promise<string> {
  const raw = await rawClient(cw.wsUrl)
  raw.send(OPEN())
  await raw.closed
  return raw.messages.join('')
}

t.test('STARTTLS with a self-signed certificate', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'causeway-diag-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const cert = await makeSelfSignedCert(dir, 'localhost')
  const prosody = await startProsody({ users: [ALICE], tls: { ...cert, require: true } })
  t.teardown(() => prosody.stop())

  const cw = await startCauseway({ upstream: [`localhost=starttls://127.0.0.1:${prosody.c2sPort}`], logLevel: 'info' })
  t.teardown(() => cw.stop())
  const told = await failingSession(cw)
  t.match(told, /<remote-connection-failed xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/><text [^>]*>TLS with upstream failed: the server certificate was not accepted<\/text>/, 'the spec condition and a short text')
  t.notMatch(told, /SELF_SIGNED|DEPTH_ZERO|ERR_|CERT_/, 'no library code reaches the client')
  await failingSession(cw)
  const bosh = await post(cw.boshUrl, `<body ${HTTPBIND} rid='100' to='localhost' wait='5' hold='1' ver='1.6'/>`)
  t.match(bosh, /type='terminate' condition='remote-connection-failed'/, 'BOSH: the binding condition')

  const lines = warnings(cw)
  t.equal(lines.length, 1, 'one warning for three sessions over two transports')
  const line = lines[0] ?? {}
  t.equal(line.msg, 'upstream unreachable')
  t.match(line, { upstream: 'localhost', domain: 'localhost', server: `127.0.0.1:${prosody.c2sPort}`, cause: 'tls', verifyError: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
  t.match(String(line.mode), /^starttls/)
  const certificate = line.certificate as Record<string, unknown>
  t.match(certificate, { subject: 'CN=localhost', issuer: 'CN=localhost', altNames: 'DNS:localhost', selfSigned: true })
  t.match(String(certificate.validFrom), /\d{4} GMT$/, 'valid from')
  t.match(String(certificate.validTo), /\d{4} GMT$/, 'valid to')
  t.match(String(certificate.fingerprint256), /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
  t.match(String(line.fix), /self-signed: give Causeway that certificate .* with upstreamCaFile/)
  t.match(await cw.causeway.metrics.registry.metrics(), /causeway_upstream_failures_total\{upstream="localhost",reason="tls"\} 3/)

  // The fix, as the line says: trust that certificate.
  const fixed = await startCauseway({ upstream: [`localhost=starttls://127.0.0.1:${prosody.c2sPort}`], upstreamCaFile: cert.certPath, logLevel: 'info' })
  t.teardown(() => fixed.stop())
  const alice = await connectClient({ service: fixed.wsUrl, ...ALICE })
  t.equal(alice.jid, 'alice@localhost/test', 'with upstreamCaFile, the login works')
  await alice.stop()
  t.same(warnings(fixed), [], 'and nothing to warn about')
})

t.test('a certificate for another name: the name it must carry', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'causeway-diag-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const cert = await makeSelfSignedCert(dir, 'xmpp.example.net', 'other-name')
  const prosody = await startProsody({ users: [ALICE], tls: { ...cert, require: true } })
  t.teardown(() => prosody.stop())
  const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`], upstreamCaFile: cert.certPath, logLevel: 'info' })
  t.teardown(() => cw.stop())
  await failingSession(cw)
  const line = warnings(cw)[0] ?? {}
  t.equal(line.verifyError, 'ERR_TLS_CERT_ALTNAME_INVALID')
  t.match(String(line.fix), /does not name the XMPP domain "localhost" \(it names DNS:xmpp\.example\.net\)/)
})

t.test('Prosody requiring encryption without a certificate (its default c2s_require_encryption = true)', async (t) => {
  const prosody = await startProsody({ users: [ALICE], extraConfig: 'c2s_require_encryption = true' })
  t.teardown(() => prosody.stop())
  const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`], logLevel: 'info' })
  t.teardown(() => cw.stop())
  const told = await failingSession(cw)
  t.match(told, /<stream:error[^>]*><undefined-condition xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>/, 'the server’s own condition reaches the client')
  await failingSession(cw)
  const lines = warnings(cw)
  t.equal(lines.length, 1, 'one warning for two sessions')
  const line = lines[0] ?? {}
  t.match(line, { msg: 'upstream refused the stream', upstream: 'localhost', condition: 'undefined-condition', secure: false, serverText: 'No stream features to proceed with' })
  t.match(String(line.fix), /requires encryption .*give it a certificate.*secure_interfaces.*c2s_require_encryption = false/is)
  const ended = await eventually('two session-ended lines', () => {
    const found = cw.logLines().filter((l) => l.msg === 'session ended')
    return found.length >= 2 ? found : undefined
  })
  t.same(ended.map((l) => [l.reason, l.condition]), [['upstream-error', 'undefined-condition'], ['upstream-error', 'undefined-condition']])
})

t.test('readyRequiresUpstream: /readyz is 503 while no upstream accepts connections, 200 once one does', async (t) => {
  const prosody = await startProsody({ users: [ALICE] })
  t.teardown(() => prosody.stop())
  await prosody.kill() // its port, with nothing behind it for now
  const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`], readyRequiresUpstream: true, upstreamProbeIntervalMs: 1000, logLevel: 'info' })
  t.teardown(() => cw.stop())
  const ready = async () => {
    const response = await fetch(`${cw.httpUrl}/readyz`)
    return { status: response.status, body: (await response.json()) as { status: string } }
  }
  await eventually('the first probe failed', () => cw.causeway.health.status()[0]?.state === 'down')
  t.match(await ready(), { status: 503, body: { status: 'no-upstream' } })
  t.equal((await fetch(`${cw.httpUrl}/healthz`)).status, 200, '/healthz stays 200: the process is fine')
  t.match(await cw.causeway.metrics.registry.metrics(), /causeway_upstream_up\{upstream="localhost"\} 0/)
  await new Promise((resolve) => setTimeout(resolve, 2500)) // a few more probes
  t.equal(warnings(cw).filter((l) => l.msg === 'upstream unreachable').length, 1, 'the probes warn once, not every second')

  await prosody.restart()
  await eventually('ready', async () => (await ready()).status === 200, 10_000)
  t.match(await cw.causeway.metrics.registry.metrics(), /causeway_upstream_up\{upstream="localhost"\} 1/)
  t.match(cw.causeway.health.status(), [{ upstream: 'localhost', target: `tcp://127.0.0.1:${prosody.c2sPort}`, state: 'up' }])

  await prosody.kill()
  await eventually('not ready again', async () => (await ready()).status === 503, 10_000)

  const plain = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`] })
  t.teardown(() => plain.stop())
  t.equal((await fetch(`${plain.httpUrl}/readyz`)).status, 200, 'without the option, /readyz does not look at the upstream')
})
