/**
 * At the most verbose log level, nothing secret reaches Causeway's logs:
 * passwords, SASL payloads (PLAIN, SCRAM proofs), message bodies, or full
 * session ids. Every secret searched for is what the clients actually sent
 * or received on the wire, captured on the client side.
 */
import t from 'tap'
import { Strophe } from 'strophe.js'
import { client, xml } from '@xmpp/client'
import type { Element as XmlElement } from 'ltx'
import { startProsody } from '../helpers/prosody.js'
import { startCauseway } from '../helpers/causeway.js'
import { connectStrophe } from '../helpers/strophe-client.js'
import type { StropheClient } from '../helpers/strophe-client.js'
import { NodeXMLHttpRequest } from '../helpers/xhr-shim.js'
import { Waiters } from '../helpers/wait.js'

const SASL_NS = 'urn:ietf:params:xml:ns:xmpp-sasl'
// Distinctive passwords: each is searched for verbatim.
const ALICE = { username: 'alice', password: 'Tr0ub4dor-alice-7c1f' }
const BOB = { username: 'bob', password: 'c0rrect-h0rse-bob-99e2' }
const ERIN = { username: 'erin', password: 'b0sh-erin-s3cret-41aa' }
const FRANK = { username: 'frank', password: 'b0sh-frank-s3cret-d07' }
const USERS = [ALICE, BOB, ERIN, FRANK]

/** Message bodies: each has a unique token, searched for on its own too (it survives XML escaping). */
const body = (from: string, to: string, i: number) => `secret-body-${from}-${to}-${i}-q7Zx <&> confidential`
const token = (from: string, to: string, i: number) => `secret-body-${from}-${to}-${i}-q7Zx`

/** Records every BOSH response body, next to NodeXMLHttpRequest.sent (the request bodies). */
class RecordingXhr extends NodeXMLHttpRequest {
  static readonly responses: string[] = []
  override send(body?: string | null): void {
    const inner = this.onreadystatechange
    this.onreadystatechange = () => {
      if (this.readyState === NodeXMLHttpRequest.DONE && this.responseText !== '') RecordingXhr.responses.push(this.responseText)
      inner?.call(this)
    }
    super.send(body)
  }
}
;(globalThis as unknown as { XMLHttpRequest: unknown }).XMLHttpRequest = RecordingXhr

/** Everything that must never be logged, as [label, value]. */
class Secrets {
  readonly values: Array<[string, string]> = []
  add(label: string, value: string | undefined | null): void {
    if (value === undefined || value === null || value.trim() === '' || value === '=') return
    this.values.push([label, value])
  }

  /** A SASL payload: its base64 text, the decoded text, and the SCRAM parts in it (proof, signature, nonce, salt). */
  addSasl(label: string, base64: string): void {
    const text = base64.trim()
    if (text === '' || text === '=') return
    this.add(`${label} base64`, text)
    const decoded = Buffer.from(text, 'base64').toString('latin1')
    if (decoded.includes('\0')) {
      // PLAIN: authzid \0 authcid \0 password
      this.add(`${label} decoded PLAIN`, decoded)
      return
    }
    this.add(`${label} decoded`, decoded)
    for (const attr of decoded.split(',')) {
      const match = /^([prsv])=(.{8,})$/.exec(attr)
      if (match) this.add(`${label} ${match[1]}=`, match[2])
    }
  }
}

interface WsLogin {
  readonly xmpp: ReturnType<typeof client>
  readonly jid: string
  /** Stream ids from every <open/> the client got (one per stream restart). */
  readonly streamIds: string[]
  /** SASL element names seen both ways, e.g. ['auth', 'challenge', 'response', 'success']. */
  readonly sasl: string[]
  readonly bodies: string[]
  waitForBodies(count: number): Promise<string[]>
}

/** @xmpp/client with a forced mechanism and listeners attached before start(), so the login itself is captured. */
async function loginWebSocket(service: string, user: { username: string; password: string }, mechanism: string, found: Secrets): Promise<WsLogin> {
  const xmpp = client({
    service,
    domain: 'localhost',
    resource: `ws-${mechanism.toLowerCase()}`,
    credentials: async (authenticate: (c: object, m: string) => Promise<void>, mechanisms: string[]) => {
      if (!mechanisms.includes(mechanism)) throw new Error(`server does not offer ${mechanism}: ${mechanisms.join(' ')}`)
      await authenticate({ username: user.username, password: user.password }, mechanism)
    },
  })
  xmpp.reconnect.stop()
  xmpp.on('error', () => {})
  const streamIds: string[] = []
  const sasl: string[] = []
  const bodies: string[] = []
  const waiters = new Waiters()
  const onSasl = (el: XmlElement) => {
    if (el.getNS() !== SASL_NS) return
    sasl.push(el.name)
    found.addSasl(`${user.username} ${mechanism} <${el.name}>`, el.getText())
  }
  xmpp.on('send', onSasl)
  xmpp.on('element', onSasl)
  xmpp.on('open', (el: XmlElement) => {
    if (el.attrs.id) streamIds.push(el.attrs.id)
  })
  xmpp.on('stanza', (el: XmlElement) => {
    const text = el.is('message') ? el.getChildText('body') : null
    if (text !== null) bodies.push(text)
    waiters.wake()
  })
  const address = await xmpp.start()
  return {
    xmpp,
    jid: address.toString(),
    streamIds,
    sasl,
    bodies,
    waitForBodies: (count) => waiters.until(() => (bodies.length >= count ? bodies.slice(0, count) : undefined), 10_000, () => `${count} bodies (have ${bodies.length})`),
  }
}

/** SASL payloads out of BOSH request/response bodies. */
function saslFromBosh(found: Secrets, who: string, bodies: readonly string[]): string[] {
  const names: string[] = []
  for (const text of bodies) {
    for (const m of text.matchAll(/<(auth|response|challenge|success)\b[^>]*?(?:\/>|>([^<]*)<\/\1>)/g)) {
      if (!/urn:ietf:params:xml:ns:xmpp-sasl/.test(m[0])) continue
      names.push(m[1] ?? '')
      found.addSasl(`${who} BOSH <${m[1]}>`, m[2] ?? '')
    }
  }
  return names
}

t.test('no secrets in trace-level logs, over WebSocket and BOSH', async (t) => {
  const prosody = await startProsody({ users: USERS, scramIterations: 4096 }) // Strophe refuses SCRAM with fewer than 4096 iterations
  t.teardown(() => prosody.stop())
  const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`], logLevel: 'trace' })
  t.teardown(() => cw.stop())
  const found = new Secrets()
  for (const u of USERS) {
    found.add(`${u.username}'s password`, u.password)
    for (const authzid of ['', `${u.username}@localhost`]) {
      found.add(`${u.username}'s PLAIN form`, Buffer.from(`${authzid}\0${u.username}\0${u.password}`).toString('base64'))
    }
  }

  // ── WebSocket: PLAIN and SCRAM-SHA-1 ──────────────────────────────────
  const alice = await loginWebSocket(cw.wsUrl, ALICE, 'SCRAM-SHA-1', found)
  t.teardown(() => alice.xmpp.stop().catch(() => {}))
  const bob = await loginWebSocket(cw.wsUrl, BOB, 'PLAIN', found)
  t.teardown(() => bob.xmpp.stop().catch(() => {}))
  t.equal(alice.jid, 'alice@localhost/ws-scram-sha-1', 'alice logged in over WebSocket with SCRAM-SHA-1')
  t.equal(bob.jid, 'bob@localhost/ws-plain', 'bob logged in over WebSocket with PLAIN')
  t.same(alice.sasl, ['auth', 'challenge', 'response', 'success'], 'alice did a full SCRAM-SHA-1 exchange')
  t.same(bob.sasl, ['auth', 'success'], 'bob did PLAIN')
  const scramProofs = found.values.filter(([label]) => label.startsWith('alice SCRAM-SHA-1 <response> p='))
  t.equal(scramProofs.length, 1, 'the SCRAM client-final proof was captured')
  t.ok(found.values.some(([label, v]) => label === 'bob PLAIN <auth> base64' && Buffer.from(v, 'base64').toString().endsWith(`\0${BOB.password}`)), 'bob\'s PLAIN payload was captured')

  // ── BOSH (Strophe): its default (SCRAM) and PLAIN ─────────────────────
  const sentBefore = NodeXMLHttpRequest.sent.length
  const erin = await connectStrophe(cw.boshUrl, 'erin@localhost/bosh', ERIN.password)
  t.teardown(() => erin.disconnect())
  const frank = await connectStrophe(cw.boshUrl, 'frank@localhost/bosh', FRANK.password, { mechanisms: [Strophe.SASLPlain] })
  t.teardown(() => frank.disconnect())
  const boshSids = [erin, frank].map((c: StropheClient) => (c.connection as unknown as { _proto: { sid: string | null } })._proto.sid)
  const creation = RecordingXhr.responses.filter((r) => /<body\b[^>]*\bsid=/.test(r))
  t.equal(creation.length, 2, 'two BOSH session creation responses')
  const sidsFromResponses = creation.map((r) => /\bsid=['"]([^'"]+)['"]/.exec(r)?.[1])
  t.same(sidsFromResponses, boshSids, 'Strophe uses the sid from the creation response')
  // XEP-0206 §4: the upstream stream id, sent "as soon as available" (creation or a later response).
  const authids = RecordingXhr.responses.map((r) => /<body\b[^>]*\bauthid=['"]([^'"]+)['"]/.exec(r)?.[1]).filter((a): a is string => a !== undefined)
  const boshSent = NodeXMLHttpRequest.sent.slice(sentBefore)
  const boshSasl = saslFromBosh(found, 'erin/frank', [...boshSent, ...RecordingXhr.responses])
  const boshMechanisms = boshSent.flatMap((b) => [...b.matchAll(/<auth\b[^>]*\bmechanism=['"]([^'"]+)['"]/g)].map((m) => m[1]))
  t.same(boshMechanisms, ['SCRAM-SHA-1', 'PLAIN'], 'erin logged in with SCRAM-SHA-1, frank with PLAIN')
  t.same(boshSasl.filter((n) => n === 'response' || n === 'challenge').sort(), ['challenge', 'response'], 'one SCRAM challenge/response round over BOSH')
  t.equal(found.values.filter(([label]) => label === 'erin/frank BOSH <response> p=').length, 1, 'erin\'s SCRAM client proof was captured')
  t.ok(found.values.some(([label, v]) => label.includes('BOSH <auth> decoded PLAIN') && v.endsWith(`\0${FRANK.password}`)), 'frank\'s PLAIN payload was captured')

  // ── a short message exchange, every direction ─────────────────────────
  const parties = { alice: alice.jid, bob: bob.jid, erin: erin.jid, frank: frank.jid }
  const expected: Record<string, string[]> = { alice: [], bob: [], erin: [], frank: [] }
  for (let i = 0; i < 3; i++) {
    for (const [from, to] of [['alice', 'bob'], ['bob', 'erin'], ['erin', 'frank'], ['frank', 'alice'], ['alice', 'erin']] as const) {
      const text = body(from, to, i)
      expected[to]?.push(text)
      found.add(`body ${from}→${to} ${i}`, text)
      found.add(`body token ${from}→${to} ${i}`, token(from, to, i))
      if (from === 'alice' || from === 'bob') {
        await (from === 'alice' ? alice : bob).xmpp.send(xml('message', { to: parties[to], type: 'chat' }, xml('body', {}, text)))
      } else {
        ;(from === 'erin' ? erin : frank).sendMessage(parties[to], text)
      }
    }
  }
  t.same(await alice.waitForBodies(3), expected.alice, 'alice got her messages')
  t.same(await bob.waitForBodies(3), expected.bob, 'bob got his messages')
  // Two senders on different paths: only each sender's own order is defined.
  t.same([...(await erin.waitForBodies(6))].sort(), [...(expected.erin ?? [])].sort(), 'erin got her messages')
  t.same(await frank.waitForBodies(3), expected.frank, 'frank got his messages')

  await erin.disconnect()
  await frank.disconnect()
  await alice.xmpp.stop()
  await bob.xmpp.stop()

  // ── the logs ──────────────────────────────────────────────────────────
  const logs = cw.logText()
  const lines = cw.logLines()
  // Causeway has no trace-only lines today; at 'trace' every debug line must be there.
  t.ok(lines.some((l) => l.level === 20), 'debug-level lines were written')
  t.ok(lines.filter((l) => l.msg === 'client → upstream').length >= 20, 'stanzas were logged (as summaries)')
  t.ok(lines.some((l) => l.transport === 'bosh') && lines.some((l) => l.transport === 'websocket'), 'both transports logged')

  t.ok(found.values.length >= 60, `${found.values.length} secrets to look for`)
  const leaked = found.values.filter(([, value]) => logs.includes(value) || logs.includes(JSON.stringify(value).slice(1, -1)))
  t.same(leaked.map(([label]) => label), [], 'no password, SASL payload or body in any log line')

  // Any long base64 run from a SASL element, even one not recognised above.
  const saslBase64 = found.values.filter(([label, v]) => /<(auth|response|challenge|success)>/.test(label) && / base64$/.test(label) && v.length > 20)
  t.ok(saslBase64.length >= 8, `${saslBase64.length} SASL base64 payloads longer than 20 characters captured`)
  t.same(saslBase64.filter(([, v]) => logs.includes(v)).map(([l]) => l), [], 'none of them logged')

  // Full session ids: the BOSH sid and the stream ids the clients saw.
  for (const sid of boshSids) t.ok(sid !== null && sid.length >= 16, 'a BOSH sid long enough to be a secret')
  const wsStreamIds = [...alice.streamIds, ...bob.streamIds]
  t.ok(wsStreamIds.length >= 4, `stream ids captured (${wsStreamIds.length}: one per stream restart)`)
  t.same(
    boshSids.filter((sid) => sid !== null && logs.includes(sid)),
    [],
    'no full BOSH sid in the logs',
  )
  t.same(
    wsStreamIds.filter((id) => logs.includes(id)),
    [],
    'no full WebSocket stream id in the logs',
  )
  t.ok(authids.length >= 2, `BOSH authids captured (${authids.length})`)
  t.same(authids.filter((id) => logs.includes(id)), [], 'no full BOSH authid (upstream stream id) in the logs')
})
