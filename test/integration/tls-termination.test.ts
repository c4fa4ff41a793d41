/**
 * TLS on Causeway's own listener (tlsCert/tlsKey): https for BOSH, wss for
 * WebSocket, clients that verify a CA made by the test, and certificate
 * reload (reloadTls / SIGHUP) that new connections see while open sessions
 * carry on undisturbed.
 */
import { spawn } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { startCauseway } from '../helpers/causeway.js'
import { freePort } from '../helpers/ports.js'
import { startProsody } from '../helpers/prosody.js'
import { makeCa, makeServerCert } from '../helpers/tls.js'
import { OPEN, rawClient } from '../helpers/ws-client.js'

const HTTPBIND = "xmlns='http://jabber.org/protocol/httpbind'"
const BIN = fileURLToPath(new URL('../../src/bin/causeway.ts', import.meta.url))

const dir = await mkdtemp(join(tmpdir(), 'causeway-tls-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
// Two CAs: the listener starts with "first" and is reloaded with "second".
const firstCa = await makeCa(dir, 'First Test CA')
const secondCa = await makeCa(dir, 'Second Test CA')
const first = await makeServerCert(dir, firstCa, 'localhost', 'first')
const second = await makeServerCert(dir, secondCa, 'localhost', 'second')
const caBundle = [await readFile(firstCa.caCertPath, 'utf8'), await readFile(secondCa.caCertPath, 'utf8')]
// ws hands these to tls.connect; `servername` makes the client check the name "localhost".
const trustBoth = { ca: caBundle, servername: 'localhost' }
const fingerprint = async (certPath: string) => new X509Certificate(await readFile(certPath)).fingerprint256

/** The listener's files, which the tests overwrite to simulate a renewal. */
const live = { certPath: join(dir, 'live.crt'), keyPath: join(dir, 'live.key') }
async function install(cert: { certPath: string; keyPath: string }): Promise<void> {
  await copyFile(cert.certPath, live.certPath)
  await copyFile(cert.keyPath, live.keyPath)
}

/** Which certificate a brand-new connection is shown (verified against both CAs). */
function presentedCertificate(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: caBundle }, () => {
      resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '')
      socket.end()
    })
    socket.once('error', reject)
  })
}

function httpsPost(url: string, body: string, ca: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.request(url, { method: 'POST', ca, servername: 'localhost', headers: { 'content-type': 'text/xml; charset=utf-8' } }, (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (text += chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }))
    })
    request.once('error', reject)
    request.end(body)
  })
}

const PLAIN = (user: string, password: string) => Buffer.from(`\0${user}\0${password}`).toString('base64')

const prosody = await startProsody({ users: [{ username: 'alice', password: 'alice-pw' }] })
t.teardown(() => prosody.stop())
const upstream = [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`]

t.test('https and wss with a certificate the client verifies', async (t) => {
  await install(first)
  const causeway = await startCauseway({ upstream, tlsCert: live.certPath, tlsKey: live.keyPath })
  t.teardown(() => causeway.stop())
  t.match(causeway.wsUrl, /^wss:\/\//)

  // WebSocket: TLS, the RFC 7395 open, SASL and an iq round trip.
  const client = await rawClient(causeway.wsUrl, ['xmpp'], trustBoth)
  t.teardown(() => client.socket.terminate())
  client.send(OPEN())
  await client.waitForMatch(/<mechanism>PLAIN<\/mechanism>/)
  client.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${PLAIN('alice', 'alice-pw')}</auth>`)
  await client.waitForMatch(/^<success/)
  client.send(OPEN())
  await client.waitForMatch(/urn:ietf:params:xml:ns:xmpp-bind/)
  client.send(`<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`)
  t.match(await client.waitForMatch(/id=["']b1["']/), /<jid>alice@localhost\//)

  // BOSH: session creation over https brings the stream features.
  const created = await httpsPost(causeway.boshUrl, `<body ${HTTPBIND} rid='100' to='localhost' wait='5' hold='1' ver='1.11' xml:lang='en' xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0'/>`, caBundle)
  t.equal(created.status, 200)
  t.match(created.body, /sid=/)
  t.match(created.body, /<stream:features|<features/)

  // A client that does not trust the CA is refused by its own TLS stack.
  await t.rejects(presentedCertificateWithCa(causeway.port, [caBundle[1] ?? '']), /self.signed|unable to verify|certificate/i)

  // Plain HTTP on the TLS port is never served.
  await t.rejects(fetch(`http://127.0.0.1:${causeway.port}/http-bind`, { method: 'POST', body: '<body/>' }))
})

function presentedCertificateWithCa(port: number, ca: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca }, () => {
      resolve('connected')
      socket.end()
    })
    socket.once('error', reject)
  })
}

t.test('reloading the certificate: new connections get it, open sessions keep working', async (t) => {
  await install(first)
  const causeway = await startCauseway({ upstream, tlsCert: live.certPath, tlsKey: live.keyPath })
  t.teardown(() => causeway.stop())
  t.equal(await presentedCertificate(causeway.port), await fingerprint(first.certPath), 'starts with the first certificate')

  const client = await rawClient(causeway.wsUrl, ['xmpp'], trustBoth)
  t.teardown(() => client.socket.terminate())
  client.send(OPEN())
  await client.waitForMatch(/<mechanism>PLAIN<\/mechanism>/)

  await install(second)
  const reloaded = causeway.causeway.reloadTls()
  t.ok(reloaded.ok, 'reload accepted')
  if (reloaded.ok) t.match(reloaded.subject, /CN=localhost/)
  t.equal(await presentedCertificate(causeway.port), await fingerprint(second.certPath), 'a new connection sees the second certificate')

  // The session opened before the reload is untouched: it authenticates now.
  client.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${PLAIN('alice', 'alice-pw')}</auth>`)
  await client.waitForMatch(/^<success/)
  t.equal(client.socket.readyState, client.socket.OPEN)

  // A broken pair (key of another certificate) is refused; the second one stays.
  await copyFile(first.keyPath, live.keyPath)
  const broken = causeway.causeway.reloadTls()
  t.notOk(broken.ok, 'a mismatched key is refused')
  if (!broken.ok) t.match(broken.error, /key/i)
  await rm(live.certPath)
  const missing = causeway.causeway.reloadTls()
  t.notOk(missing.ok, 'a missing file is refused')
  if (!missing.ok) t.match(missing.error, /^tlsCert: cannot read .*: no such file/)
  t.equal(await presentedCertificate(causeway.port), await fingerprint(second.certPath), 'still the second certificate')
  t.match(causeway.logText(), /tls certificate reload failed; keeping the current certificate/)
  const metrics = await causeway.causeway.metrics.registry.getSingleMetricAsString('causeway_tls_reloads_total')
  t.match(metrics, /causeway_tls_reloads_total\{result="ok"\} 1/)
  t.match(metrics, /causeway_tls_reloads_total\{result="error"\} 2/)
})

t.test('a mismatched certificate and key stop start-up with a clear message', async (t) => {
  await t.rejects(startCauseway({ upstream, tlsCert: first.certPath, tlsKey: second.keyPath }), /tlsCert\/tlsKey: .*key/i)
  await t.rejects(startCauseway({ upstream, tlsCert: join(dir, 'absent.crt'), tlsKey: first.keyPath }), /^tlsCert: cannot read .*absent\.crt: no such file/)
})

t.test('the causeway command reloads on SIGHUP without dropping sessions', async (t) => {
  await install(first)
  const port = await freePort()
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', BIN, '--port', String(port), '--upstream', upstream[0] ?? '', '--tls-cert', live.certPath, '--tls-key', live.keyPath, '--log-level', 'info'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let out = ''
  child.stdout.on('data', (data: Buffer) => (out += data.toString()))
  child.stderr.on('data', (data: Buffer) => (out += data.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  t.teardown(() => child.kill('SIGKILL'))
  const waitFor = async (pattern: RegExp) => {
    const deadline = Date.now() + 20_000
    while (!pattern.test(out) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    t.match(out, pattern)
  }
  await waitFor(/causeway listening/)
  t.equal(await presentedCertificate(port), await fingerprint(first.certPath))

  const client = await rawClient(`wss://127.0.0.1:${port}/xmpp-websocket`, ['xmpp'], trustBoth)
  client.send(OPEN())
  await client.waitForMatch(/<mechanism>PLAIN<\/mechanism>/)

  await install(second)
  child.kill('SIGHUP')
  await waitFor(/tls certificate reloaded/)
  t.equal(await presentedCertificate(port), await fingerprint(second.certPath), 'after SIGHUP new connections see the new certificate')
  client.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${PLAIN('alice', 'alice-pw')}</auth>`)
  await client.waitForMatch(/^<success/)
  t.pass('the session opened before SIGHUP still works')

  // A renewal gone wrong is logged and survived.
  await writeFile(live.certPath, 'not a certificate\n')
  child.kill('SIGHUP')
  await waitFor(/tls certificate reload failed/)
  t.equal(await presentedCertificate(port), await fingerprint(second.certPath))

  client.socket.terminate()
  child.kill('SIGTERM')
  t.equal(await exited, 0, 'exits cleanly afterwards')
})
