/**
 * Upstream TLS is verified: chain and name against the XMPP domain
 * (RFC 6120 §13.7.2). STARTTLS is Causeway's business, invisible to the
 * client: it sees post-TLS features without <starttls/> or -PLUS mechanisms.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { makeTlsFixtures } from '../helpers/tls.js'
import type { CertFiles } from '../helpers/tls.js'
import { startProsody } from '../helpers/prosody.js'
import { startCauseway } from '../helpers/causeway.js'
import { connectClient } from '../helpers/xmpp-client.js'
import { OPEN, rawClient } from '../helpers/ws-client.js'
import { freePort } from '../helpers/ports.js'

const ALICE = { username: 'alice', password: 'alice-secret-1' }

t.test('upstream STARTTLS', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'causeway-tls-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const certs = await makeTlsFixtures(dir, 'localhost')

  const prosodyWith = async (cert: CertFiles) => {
    const prosody = await startProsody({ users: [ALICE], tls: { ...cert, require: true } })
    t.teardown(() => prosody.stop())
    return prosody
  }

  t.test('a STARTTLS-only Prosody is reached with verification', async (t) => {
    const prosody = await prosodyWith(certs.good)
    for (const scheme of ['tcp', 'starttls']) {
      const cw = await startCauseway({ upstream: [`localhost=${scheme}://127.0.0.1:${prosody.c2sPort}`], upstreamCaFile: certs.ca.caCertPath })
      t.teardown(() => cw.stop())
      const raw = await rawClient(cw.wsUrl)
      raw.send(OPEN())
      const features = await raw.waitForMatch(/^<stream:features/)
      t.notMatch(features, /starttls/, `${scheme}: the client never sees <starttls/>`)
      t.notMatch(features, /-PLUS/, `${scheme}: channel-binding mechanisms are removed`)
      t.match(features, /<mechanism>PLAIN<\/mechanism>/, `${scheme}: post-TLS SASL mechanisms are offered`)
      raw.socket.close()
      const alice = await connectClient({ service: cw.wsUrl, ...ALICE, mechanism: 'PLAIN' })
      t.equal(alice.jid, 'alice@localhost/test', `${scheme}: login over upstream TLS`)
      await alice.stop()
    }
  })

  t.test('tls:// is direct TLS (XEP-0368), verified the same way', async (t) => {
    const port = await freePort()
    const prosody = await startProsody({
      users: [ALICE],
      tls: { ...certs.good, require: true },
      extraConfig: `c2s_direct_tls_ports = { ${port} }\nc2s_direct_tls_interfaces = { "127.0.0.1" }`,
    })
    t.teardown(() => prosody.stop())
    const cw = await startCauseway({ upstream: [`localhost=tls://127.0.0.1:${port}`], upstreamCaFile: certs.ca.caCertPath })
    t.teardown(() => cw.stop())
    const alice = await connectClient({ service: cw.wsUrl, ...ALICE, mechanism: 'SCRAM-SHA-1' })
    t.equal(alice.jid, 'alice@localhost/test', 'login over direct TLS')
    await alice.stop()
    t.match(prosody.logs(), new RegExp(`Client connected|secure`), 'Prosody saw the client')
  })

  t.test('without the test CA configured, the system store does not trust it', async (t) => {
    const prosody = await prosodyWith(certs.good)
    const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`] })
    t.teardown(() => cw.stop())
    const raw = await rawClient(cw.wsUrl)
    raw.send(OPEN())
    await raw.closed
    t.match(raw.messages.join(''), /<remote-connection-failed /)
    t.notMatch(raw.messages.join(''), /<stream:features/, 'no features: the client could send nothing upstream')
  })

  for (const [name, pick] of [
    ['a certificate for the wrong name', (c: typeof certs) => c.wrongName],
    ['a certificate from an unknown CA', (c: typeof certs) => c.unknownCa],
  ] as const) {
    t.test(`${name} fails the session with remote-connection-failed`, async (t) => {
      const prosody = await prosodyWith(pick(certs))
      const cw = await startCauseway({ upstream: [`localhost=starttls://127.0.0.1:${prosody.c2sPort}`], upstreamCaFile: certs.ca.caCertPath })
      t.teardown(() => cw.stop())
      const raw = await rawClient(cw.wsUrl)
      raw.send(OPEN())
      const closed = await raw.closed
      const all = raw.messages.join('')
      t.match(all, /<remote-connection-failed xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/)
      t.match(all, /TLS with upstream failed/)
      t.notMatch(all, /<stream:features/, 'nothing was negotiated, so nothing of the client reached upstream')
      t.equal(closed.code, 1000)
      const metrics = await cw.causeway.metrics.registry.metrics()
      t.match(metrics, /causeway_upstream_connect_failures_total\{reason="tls"\} 1/)
    })
  }

  t.test('starttls:// refuses an upstream that does not offer STARTTLS', async (t) => {
    const prosody = await startProsody({ users: [ALICE] })
    t.teardown(() => prosody.stop())
    const cw = await startCauseway({ upstream: [`localhost=starttls://127.0.0.1:${prosody.c2sPort}`] })
    t.teardown(() => cw.stop())
    const raw = await rawClient(cw.wsUrl)
    raw.send(OPEN())
    await raw.closed
    t.match(raw.messages.join(''), /<remote-connection-failed .*upstream does not offer STARTTLS/)
  })

  t.test('a closed port is remote-connection-failed', async (t) => {
    const cw = await startCauseway({ upstream: ['localhost=tcp://127.0.0.1:1'] })
    t.teardown(() => cw.stop())
    const raw = await rawClient(cw.wsUrl)
    raw.send(OPEN())
    await raw.closed
    t.match(raw.messages[0], /^<open /)
    t.match(raw.messages[1], /<remote-connection-failed /)
    t.match(await cw.causeway.metrics.registry.metrics(), /causeway_upstream_connect_failures_total\{reason="refused"\} 1/)
  })
})
