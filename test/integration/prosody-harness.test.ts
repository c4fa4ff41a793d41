// Proves the Prosody test harness itself: users, SASL, STARTTLS and the
// certificate fixtures behave the way the integration tests assume.
import t from 'tap'
import { withTimeout } from '../helpers/wait.js'
import { connect as tcpConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { client } from '@xmpp/client'
import { startProsody, probeStreamFeatures, type RunningProsody, type ProsodyUser } from '../helpers/prosody.js'
import { makeTlsFixtures } from '../helpers/tls.js'
import WebSocket from 'ws'

const STEP_TIMEOUT_MS = 5000

type Authenticate = (creds: ProsodyUser, mechanism: string) => Promise<void>

/** The two bits of tap's Test this file needs, without depending on tap's plugin-generated types. */
interface Teardownable { teardown: (fn: () => unknown) => void; passing: () => boolean }

const streamHeader = (domain: string): string =>
  `<?xml version='1.0'?><stream:stream to='${domain}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`

function stopWithDiagnostics (t: Teardownable, server: RunningProsody): void {
  t.teardown(async () => {
    // Prosody's own log is the quickest way to see why an integration test failed.
    if (!t.passing()) console.error(`--- prosody log (${server.dir}) ---\n${server.logs().split('\n').slice(-80).join('\n')}`)
    await server.stop()
  })
}

type Mechanism = 'PLAIN' | 'SCRAM-SHA-1'

/** Log in with @xmpp/client using the given SASL mechanism; resolves with the bound full JID. */
async function login (server: RunningProsody, user: ProsodyUser, mechanism: Mechanism): Promise<string> {
  const xmpp = client({
    service: `xmpp://${server.host}:${server.c2sPort}`,
    domain: server.domain,
    resource: 'harness',
    credentials: async (authenticate: Authenticate, offered: string[]) => {
      if (!offered.includes(mechanism)) throw new Error(`${mechanism} not offered: ${offered.join(', ')}`)
      await authenticate(user, mechanism)
    }
  })
  xmpp.reconnect.stop()
  try {
    const online = new Promise<string>((resolve, reject) => {
      xmpp.on('online', (address: { toString: () => string }) => resolve(address.toString()))
      // 'on', not 'once': a second 'error' without a listener would crash the test process.
      xmpp.on('error', (err: Error) => reject(err))
    })
    await Promise.race([xmpp.start(), online])
    return await bounded(online, `login of ${user.username} with ${mechanism}`)
  } finally {
    await xmpp.stop().catch(() => {})
  }
}

/** Every step of these tests is bounded by STEP_TIMEOUT_MS. */
const bounded = <T>(p: Promise<T>, what: string): Promise<T> => withTimeout(p, what, STEP_TIMEOUT_MS)

/** Reads from `socket` until `marker` appears; returns everything read so far. */
async function readUntil (socket: Socket, marker: string): Promise<string> {
  return await bounded(new Promise<string>((resolve, reject) => {
    let buf = ''
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('utf8')
      if (buf.includes(marker)) { cleanup(); resolve(buf) }
    }
    const onError = (err: Error): void => { cleanup(); reject(err) }
    const onClose = (): void => { cleanup(); reject(new Error(`closed before ${marker}; got ${JSON.stringify(buf)}`)) }
    const cleanup = (): void => {
      socket.off('data', onData)
      socket.off('error', onError)
      socket.off('close', onClose)
    }
    socket.on('data', onData)
    socket.once('error', onError)
    socket.once('close', onClose)
  }), `waiting for ${marker}`)
}

interface StartTlsResult { preTlsFeatures: string; postTlsFeatures: string }

/**
 * Raw STARTTLS negotiation, verifying the server certificate against `ca` for
 * `servername`. Rejects with the TLS verification error if the check fails.
 */
async function startTls (server: RunningProsody, ca: Buffer, servername: string): Promise<StartTlsResult> {
  const socket = tcpConnect({ host: server.host, port: server.c2sPort })
  try {
    await bounded(new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    }), 'tcp connect')
    socket.write(streamHeader(server.domain))
    const preTlsFeatures = await readUntil(socket, '</stream:features>')
    socket.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    await readUntil(socket, '<proceed')

    const secure = tlsConnect({ socket, ca, servername })
    try {
      await bounded(new Promise<void>((resolve, reject) => {
        secure.once('secureConnect', resolve)
        secure.once('error', reject)
      }), 'TLS handshake')
      secure.write(streamHeader(server.domain))
      const postTlsFeatures = await readUntil(secure as Socket, '</stream:features>')
      return { preTlsFeatures, postTlsFeatures }
    } finally {
      secure.destroy()
    }
  } finally {
    socket.destroy()
  }
}

t.test('plain c2s: stream features, SASL mechanisms and real logins', async t => {
  const alice = { username: 'alice', password: 'alice-secret' }
  const bob = { username: 'bob', password: 'bob-secret' }
  const server = await startProsody({ users: [alice, bob] })
  stopWithDiagnostics(t, server)
  t.equal(server.host, '127.0.0.1')
  t.ok(server.c2sPort > 0 && server.c2sPort < 32768, 'c2s port is outside the ephemeral range')
  t.equal(server.httpPort, undefined, 'no http listener unless asked for')

  const features = await probeStreamFeatures(server.c2sPort, server.domain)
  t.match(features, '<stream:features', 'server answers the stream header with features')
  t.match(features, /<mechanism>SCRAM-SHA-1<\/mechanism>/, 'SCRAM-SHA-1 offered')
  t.match(features, /<mechanism>PLAIN<\/mechanism>/, 'PLAIN offered without TLS')
  t.notMatch(features, '<starttls', 'no STARTTLS without a certificate')

  t.match(await login(server, alice, 'SCRAM-SHA-1'), /^alice@localhost\/.+/, 'alice online via SCRAM-SHA-1 with a full JID')
  t.match(await login(server, bob, 'PLAIN'), /^bob@localhost\/.+/, 'bob online via PLAIN with a full JID')

  const carol = { username: 'carol', password: 'carol-secret' }
  await server.addUser(carol)
  t.match(await login(server, carol, 'SCRAM-SHA-1'), /^carol@localhost\/.+/, 'user added while running can log in')

  await t.rejects(login(server, { username: 'alice', password: 'wrong' }, 'PLAIN'), 'wrong password is refused')

  await server.stop()
  await server.stop()
  t.pass('stop() is idempotent')
})

t.test('required STARTTLS and certificate verification', async t => {
  const certDir = await mkdtemp(join(tmpdir(), 'causeway-tls-'))
  t.teardown(async () => await rm(certDir, { recursive: true, force: true }))
  const certs = await makeTlsFixtures(certDir, 'localhost')
  const ca = await readFile(certs.ca.caCertPath)

  // Three servers, one per certificate; they start in parallel (~0.3 s each).
  const [good, wrongName, unknownCa] = await Promise.all([certs.good, certs.wrongName, certs.unknownCa].map(async cert => {
    const server = await startProsody({
      users: [{ username: 'alice', password: 'alice-secret' }],
      tls: { certPath: cert.certPath, keyPath: cert.keyPath, require: true }
    })
    stopWithDiagnostics(t, server)
    return server
  }))
  if (good === undefined || wrongName === undefined || unknownCa === undefined) throw new Error('unreachable')

  const features = await probeStreamFeatures(good.c2sPort, good.domain)
  t.match(features, /<starttls xmlns=['"]urn:ietf:params:xml:ns:xmpp-tls['"]>\s*<required\s*\/>\s*<\/starttls>/, 'STARTTLS offered and required')

  const result = await startTls(good, ca, 'localhost')
  t.pass('certificate for localhost verifies against the generated CA')
  t.notMatch(result.preTlsFeatures, '<mechanisms', 'no SASL before TLS when encryption is required')
  t.match(result.postTlsFeatures, /<mechanism>SCRAM-SHA-1<\/mechanism>/, 'SASL offered after TLS')
  t.match(result.postTlsFeatures, /<mechanism>PLAIN<\/mechanism>/, 'PLAIN offered after TLS')

  await t.rejects(startTls(wrongName, ca, 'localhost'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' },
    'certificate for wrong.example is rejected for servername localhost')

  const unknownCaError = await startTls(unknownCa, ca, 'localhost').then(() => undefined, (err: NodeJS.ErrnoException) => err)
  t.ok(unknownCaError, 'certificate from an unknown CA is rejected')
  t.ok(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT']
    .includes(unknownCaError?.code ?? ''), `unknown CA fails chain verification (got ${String(unknownCaError?.code)})`)
})

t.test('Prosody\'s own BOSH and WebSocket endpoints (benchmark baseline)', async t => {
  const server = await startProsody({ bosh: true, websocket: true })
  stopWithDiagnostics(t, server)
  const httpPort = server.httpPort
  if (httpPort === undefined) throw new Error('httpPort missing although bosh/websocket were requested')
  t.not(httpPort, server.c2sPort)

  const res = await fetch(`http://${server.host}:${httpPort}/http-bind`, {
    method: 'POST',
    headers: { 'content-type': 'text/xml; charset=utf-8' },
    body: "<body content='text/xml; charset=utf-8' hold='1' rid='1000' to='localhost' ver='1.6' wait='5' " +
      "xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0'/>",
    signal: AbortSignal.timeout(STEP_TIMEOUT_MS)
  })
  t.equal(res.status, 200)
  const body = await res.text()
  t.match(body, / sid='[^']+'/, 'BOSH session created')
  t.match(body, /<mechanism>SCRAM-SHA-1<\/mechanism>/, 'BOSH session offers SASL')

  const ws = new WebSocket(`ws://${server.host}:${httpPort}/xmpp-websocket`, 'xmpp')
  t.teardown(() => ws.terminate())
  const frames = await bounded(new Promise<string[]>((resolve, reject) => {
    const received: string[] = []
    ws.on('open', () => ws.send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>"))
    ws.on('message', (data: Buffer) => {
      received.push(data.toString('utf8'))
      if (received.length === 2) resolve(received)
    })
    ws.on('error', reject)
  }), 'WebSocket open/features')
  t.equal(ws.protocol, 'xmpp', 'xmpp subprotocol negotiated')
  t.match(frames[0], /^<open /, 'server answers <open/>')
  t.match(frames[1], /<stream:features[^]*SCRAM-SHA-1/, 'then stream features')
})
