/**
 * XEP-0156 the way Converse.js uses it: with `discover_connection_methods`
 * and no URL configured, Converse fetches https://<jid domain>/.well-known/host-meta
 * (port 443, https/wss links only) and connects with what it finds. Here
 * Causeway itself answers on https://localhost:443 with a certificate from a
 * CA the test makes (Chromium trusts exactly that key), advertises its own
 * URLs from `publicUrl`, and alice logs in over the discovered WebSocket.
 *
 * Port 443 needs root (CI runs as root); elsewhere the test is skipped with
 * the reason.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { launchBrowser } from '../helpers/browser.js'
import { startCauseway } from '../helpers/causeway.js'
import { startConversePage } from '../helpers/converse-page.js'
import { startProsody } from '../helpers/prosody.js'
import { makeCa, makeServerCert } from '../helpers/tls.js'

const ALICE = { username: 'alice', password: 'alice-discovers' }

async function canListenOn443(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const probe = net.createServer()
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(`cannot listen on 127.0.0.1:443 (${error.code ?? error.message})`))
    probe.listen(443, '127.0.0.1', () => probe.close(() => resolve(undefined)))
  })
}

const unavailable = await canListenOn443()

t.test('Converse discovers Causeway through host-meta and logs in over the advertised wss URL', { skip: unavailable ?? false }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'causeway-discovery-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const ca = await makeCa(dir, 'Discovery Test CA')
  const cert = await makeServerCert(dir, ca, 'localhost', 'localhost')

  const prosody = await startProsody({ users: [ALICE] })
  t.teardown(() => prosody.stop())
  const causeway = await startCauseway({
    port: 443,
    upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`],
    tlsCert: cert.certPath,
    tlsKey: cert.keyPath,
    publicUrl: 'https://localhost',
  })
  t.teardown(() => causeway.stop())

  const site = await startConversePage()
  t.teardown(() => site.stop())
  const browser = await launchBrowser({ trustCertificates: [await readFile(cert.certPath, 'utf8')] })
  t.teardown(() => browser.close())
  const page = browser.page
  await page.goto(site.page({ jid: 'alice@localhost', password: ALICE.password, auto_login: true, auto_reconnect: false, discover_connection_methods: true }))

  const outcome = await page.waitForFunction(
    () => {
      const hooks = (window as unknown as { causewayTest?: { events: string[]; statuses: Array<{ status: string; message?: string | null }> } }).causewayTest
      if (hooks?.events.includes('connected')) return 'connected'
      const failed = hooks?.statuses.find((s) => ['CONNFAIL', 'AUTHFAIL', 'DISCONNECTED'].includes(s.status))
      return failed ? `${failed.status} ${failed.message ?? ''}` : undefined
    },
    null,
    { timeout: 30_000 },
  )
  t.equal(await outcome.jsonValue(), 'connected', `logged in after discovery\n${browser.diagnostics()}`)

  const fetched = await page.evaluate(() => performance.getEntriesByType('resource').map((entry) => entry.name))
  t.ok(fetched.includes('https://localhost/.well-known/host-meta'), 'host-meta was fetched from the JID domain')
  t.match(browser.diagnostics(), /open wss:\/\/localhost\/xmpp-websocket/, 'the advertised WebSocket URL was used')
  t.match(causeway.logText(), /"transport":"websocket"/, 'Causeway served a WebSocket session')
  t.notMatch(causeway.logText(), /"transport":"bosh"/, 'and no BOSH one')
  t.same(browser.blockedRequests, [], 'nothing beyond this machine')
  await page.screenshot({ path: 'test-artifacts/converse-discovery.png' })
})
