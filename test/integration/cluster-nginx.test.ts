/**
 * Three Causeway processes behind Debian's nginx (open source), round robin,
 * with docs/deploy/nginx-cluster.conf as shipped (only ports, addresses and
 * paths rewritten): nginx cannot route on the BOSH body, so a request lands
 * on any node and the nodes forward each one whose sid carries another
 * node's label to that node (`peers`, `peerSecret`). One real Prosody with
 * mod_smacks.
 *
 * Judged from each node's own /metrics, read straight from the node:
 * `causeway_forwarded_requests_total{peer,outcome}` at the node that
 * forwarded, `causeway_stanzas_total{…to_upstream}` at the node that relayed
 * (the owner, always), `causeway_refusals_total{…unknown-sid}` nowhere.
 *
 * Clients connect from 127.0.0.2; nginx and the nodes talk over 127.0.0.1,
 * the nodes' one trusted proxy. nginx terminates TLS, so every BOSH session
 * is created over HTTPS (X-Forwarded-Proto) and XEP-0124 §19 would drop any
 * forwarded request that lost that fact on the way.
 */
import { randomBytes, randomInt } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { Test } from 'tap'
import { parse as parseXml } from 'ltx'
import type { Element } from 'ltx'
import { WebSocket as WsWebSocket } from 'ws'
import type { ClientOptions } from 'ws'
import { client as xmppClient, xml } from '@xmpp/client'
import { PEER_HEADER, PeerProof } from '../../src/cluster/peer-proof.js'
import { OPTIONS } from '../../src/config/options.js'
import { metricValue, startCausewayNode, startShippedNginxCluster } from '../helpers/cluster.js'
import type { CausewayNode } from '../helpers/cluster.js'
import { freePort } from '../helpers/ports.js'
import { startProsody } from '../helpers/prosody.js'
import { connectStrophe } from '../helpers/strophe-client.js'
import type { StropheClient } from '../helpers/strophe-client.js'
import { makeTlsFixtures } from '../helpers/tls.js'
import { eventually } from '../helpers/wait.js'
import { NodeXMLHttpRequest } from '../helpers/xhr-shim.js'
import { NS } from '../../src/core/conditions.js'

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/cluster-nginx/', import.meta.url))
const NS_SM = 'urn:xmpp:sm:3'
const LABELS = ['node1', 'node2', 'node3'] as const
/** Killed with SIGKILL. */
const CRASHING = 'node2'
/** Stopped with SIGTERM: drains, then hands its sessions off. */
const HANDING_OFF = 'node3'
const HANDOFF_DRAIN_MS = 3000
const CLIENT_ADDRESS = '127.0.0.2'
const ALLOWED_ORIGIN = 'https://chat.example.org'
const SECRET = randomBytes(33).toString('base64')
const WRONG_SECRET = randomBytes(33).toString('base64')

const user = (name: string) => ({ username: name, password: `${name}-nginx-pw` })
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hank'].map(user)
const byName = (name: string) => USERS.find((u) => u.username === name) ?? user(name)

const labelOf = (sid: string) => sid.slice(0, sid.indexOf('.'))
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
type Counts = Record<string, number>

const STANZAS_UP = 'causeway_stanzas_total{transport="bosh",direction="to_upstream"}'
const UNKNOWN_SID = 'causeway_refusals_total{transport="bosh",reason="unknown-sid"}'
const forwarded = (peer: string, outcome: string) => `causeway_forwarded_requests_total{peer="${peer}",outcome="${outcome}"}`

async function sample(nodes: readonly CausewayNode[], series: string | ((node: CausewayNode) => string)): Promise<Counts> {
  const entries = await Promise.all(nodes.map(async (node) => [node.label, metricValue(await node.metrics(), typeof series === 'string' ? series : series(node))] as const))
  return Object.fromEntries(entries)
}
const delta = (after: Counts, before: Counts): Counts => Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]))
const total = (counts: Counts) => Object.values(counts).reduce((a, b) => a + b, 0)
/** Forwarded requests a node sent to any peer, by outcome. */
const forwardedBy = (outcome: string) => (node: CausewayNode) =>
  LABELS.filter((l) => l !== node.label).map((peer) => forwarded(peer, outcome))
async function sumForwarded(nodes: readonly CausewayNode[], outcome: string): Promise<Counts> {
  const entries = await Promise.all(
    nodes.map(async (node) => {
      const text = await node.metrics()
      return [node.label, forwardedBy(outcome)(node).reduce((sum, series) => sum + metricValue(text, series), 0)] as const
    }),
  )
  return Object.fromEntries(entries)
}

interface Answer {
  readonly status: number
  readonly text: string
  readonly headers: Record<string, string | string[] | undefined>
}

/** POSTs BOSH bodies over one keep-alive agent (https through nginx, or plain http straight to a node). */
class Poster {
  readonly agent: https.Agent
  constructor(
    readonly url: string,
    ca?: Buffer,
  ) {
    this.agent = new https.Agent({ keepAlive: true, maxSockets: 16, localAddress: CLIENT_ADDRESS, family: 4, ...(ca ? { ca } : {}) })
  }

  async post(body: string, headers: Record<string, string> = {}): Promise<Answer> {
    const response = await new Promise<Answer>((resolve, reject) => {
      const isHttps = this.url.startsWith('https:')
      const request = (isHttps ? https.request : http.request)(
        this.url,
        {
          method: 'POST',
          ...(isHttps ? { agent: this.agent } : { localAddress: CLIENT_ADDRESS, family: 4 }),
          headers: { 'content-type': 'text/xml; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers },
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers }))
          res.on('error', reject)
        },
      )
      request.setTimeout(45_000, () => request.destroy(new Error('no answer within 45 s')))
      request.on('error', reject)
      request.end(body)
    })
    return response
  }

  close(): void {
    this.agent.destroy()
  }
}

function bodyOf(answer: Answer): Element {
  if (answer.status !== 200) throw new Error(`HTTP ${answer.status}: ${answer.text.slice(0, 200)}`)
  const body = parseXml(answer.text)
  if (!body.is('body', NS.httpbind)) throw new Error(`not a BOSH body: ${answer.text.slice(0, 200)}`)
  return body
}

/** A raw XEP-0124/0206 session, one request at a time. */
class RawSession {
  readonly inbox: Element[] = []
  jid = ''
  rid: number
  private constructor(
    public http: Poster,
    readonly sid: string,
    rid: number,
  ) {
    this.rid = rid
  }

  get label(): string {
    return labelOf(this.sid)
  }

  static async create(http: Poster, wait = 10): Promise<RawSession> {
    const rid = randomInt(1, 2 ** 32) * 1024
    const body = bodyOf(
      await http.post(`<body content='text/xml; charset=utf-8' hold='1' rid='${rid}' to='localhost' ver='1.11' wait='${wait}' xml:lang='en' xmpp:version='1.0' xmlns='${NS.httpbind}' xmlns:xmpp='urn:xmpp:xbosh'/>`),
    )
    const sid = body.attrs.sid
    if (typeof sid !== 'string') throw new Error(`no session created: ${body.toString()}`)
    const session = new RawSession(http, sid, rid)
    session.inbox.push(...body.getChildElements())
    return session
  }

  wrap(payload: string, rid = ++this.rid): string {
    return `<body rid='${rid}' sid='${this.sid}' xmlns='${NS.httpbind}'>${payload}</body>`
  }

  async request(payload = '', headers: Record<string, string> = {}, via: Poster = this.http): Promise<Element> {
    const body = bodyOf(await via.post(this.wrap(payload), headers))
    if (body.attrs.type === 'terminate') throw new Error(`session ${this.sid} terminated: ${body.toString()}`)
    this.inbox.push(...body.getChildElements())
    return body
  }

  async take(match: (e: Element) => boolean, what: string, poll = ''): Promise<Element> {
    for (let attempt = 0; attempt < 6; attempt++) {
      const index = this.inbox.findIndex(match)
      if (index >= 0) return this.inbox.splice(index, 1)[0] as Element
      await this.request(poll)
    }
    throw new Error(`${this.sid}: no ${what}`)
  }

  async login(account: { username: string; password: string }, resource: string): Promise<void> {
    await this.take((e) => e.is('features', NS.stream), 'stream features')
    await this.request(`<auth xmlns='${NS.sasl}' mechanism='PLAIN'>${Buffer.from(`\0${account.username}\0${account.password}`).toString('base64')}</auth>`)
    const outcome = await this.take((e) => e.getNS() === NS.sasl, 'SASL outcome')
    if (!outcome.is('success')) throw new Error(`SASL failed: ${outcome.toString()}`)
    bodyOf(await this.http.post(`<body rid='${++this.rid}' sid='${this.sid}' to='localhost' xml:lang='en' xmpp:restart='true' xmlns='${NS.httpbind}' xmlns:xmpp='urn:xmpp:xbosh'/>`)).getChildElements().forEach((e) => this.inbox.push(e))
    await this.take((e) => e.is('features', NS.stream) && e.getChild('bind', NS.bind) !== undefined, 'features with bind')
    await this.request(`<iq type='set' id='bind' xmlns='jabber:client'><bind xmlns='${NS.bind}'><resource>${resource}</resource></bind></iq>`)
    const bound = await this.take((e) => e.is('iq') && e.attrs.id === 'bind', 'bind result')
    this.jid = bound.getChild('bind', NS.bind)?.getChildText('jid') ?? ''
  }

  /** A ping the server answers at once; returns when its result is in. */
  async ping(id: string, headers: Record<string, string> = {}, via: Poster = this.http): Promise<void> {
    await this.request(`<iq type='get' id='${id}' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>`, headers, via)
    await this.take((e) => e.is('iq') && e.attrs.id === id, `ping ${id}`)
  }

  async terminate(): Promise<void> {
    await this.http.post(`<body rid='${++this.rid}' sid='${this.sid}' type='terminate' xmlns='${NS.httpbind}'/>`).catch(() => {})
  }
}

const directives = (text: string, comment: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith(comment))

t.test('the shipped cluster files: nginx-cluster.conf and the causeway@.service template', async (t) => {
  const conf = directives(await readFile(fileURLToPath(new URL('../../docs/deploy/nginx-cluster.conf', import.meta.url)), 'utf8'), '#')
  t.ok(conf.includes(`proxy_set_header ${PEER_HEADER.replace(/(^|-)([a-z])/g, (_, d: string, c: string) => d + c.toUpperCase())} "";`), 'nginx clears the nodes’ internal header from client requests')
  t.ok(conf.includes('proxy_next_upstream error timeout http_503 non_idempotent;'), 'a refused or draining node is skipped, POSTs included')
  const boshTimeout = conf.slice(conf.findIndex((l) => l.startsWith('location ~ ^/http-bind'))).find((l) => l.startsWith('proxy_read_timeout')) ?? ''
  t.ok(Number(/(\d+)s;/.exec(boshTimeout)?.[1]) * 1000 > OPTIONS.boshMaxWaitMs.default, `BOSH read timeout (${boshTimeout}) above the BOSH wait`)
  t.notOk(conf.some((l) => /^(hash|ip_hash|sticky)\b/.test(l)), 'plain round robin: no stickiness needed')

  const single = directives(await readFile(fileURLToPath(new URL('../../docs/deploy/causeway.service', import.meta.url)), 'utf8'), '#')
  const template = directives(await readFile(fileURLToPath(new URL('../../docs/deploy/causeway@.service', import.meta.url)), 'utf8'), '#')
  const instanceLines = (l: string) => l.startsWith('Description=') || l.startsWith('TimeoutStopSec=') || l.startsWith('Environment=CAUSEWAY_')
  t.same(template.filter((l) => !instanceLines(l)), single.filter((l) => !instanceLines(l)), 'the template is causeway.service but for its instance lines (same sandbox, same limits)')
  t.ok(template.includes('Environment=CAUSEWAY_NODE_ID=node%i') && template.includes('Environment=CAUSEWAY_PORT=528%i'), 'instance N is nodeN on port 528N')
  const stop = Number(/^TimeoutStopSec=(\d+)s$/m.exec(template.join('\n'))?.[1]) * 1000
  t.ok(stop > 30_000 + OPTIONS.shutdownTimeoutMs.default, 'systemd waits for a 30 s drain plus the shutdown timeout')
})

t.test('three Causeway processes behind nginx round robin, forwarding between them', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'causeway-nginx-cluster-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const certs = await makeTlsFixtures(dir, 'localhost')
  const ca = await readFile(certs.ca.caCertPath)
  const prosody = await startProsody({ users: USERS, modules: ['smacks'], extraConfig: 'smacks_hibernation_time = 60', logLevel: 'info' })
  t.teardown(() => prosody.stop())

  const ports = await Promise.all(LABELS.map(() => freePort()))
  const peerArgs = LABELS.flatMap((label, i) => ['--peer', `${label}=http://127.0.0.1:${ports[i]}`])
  const started = await Promise.allSettled([
    ...LABELS.map((label, i) =>
      startCausewayNode({
        label,
        port: ports[i] as number,
        upstreamPort: prosody.c2sPort,
        env: { CAUSEWAY_PEER_SECRET: SECRET },
        args: [...peerArgs, '--allowed-origin', ALLOWED_ORIGIN, ...(label === HANDING_OFF ? ['--shutdown-handoff', '--shutdown-drain-ms', String(HANDOFF_DRAIN_MS)] : [])],
      }),
    ),
    // A node whose peerSecret differs from everyone else's; no balancer sends it anything.
    startCausewayNode({ label: 'node4', upstreamPort: prosody.c2sPort, env: { CAUSEWAY_PEER_SECRET: WRONG_SECRET }, args: peerArgs }),
  ])
  const all = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  t.teardown(() => Promise.all(all.map((n) => n.stop())))
  for (const r of started) if (r.status === 'rejected') throw r.reason
  const nodes = all.filter((n) => n.label !== 'node4')
  const rogue = all.find((n) => n.label === 'node4') as CausewayNode
  const node = (label: string) => nodes.find((n) => n.label === label) as CausewayNode
  const nginx = await startShippedNginxCluster({ nodes: nodes.map((n) => ({ label: n.label, port: n.port })), cert: certs.good })
  t.teardown(() => nginx.stop())
  const base = `https://localhost:${nginx.port}`
  const bosh = new Poster(`${base}/http-bind`, ca)
  t.teardown(() => bosh.close())
  const direct = (label: string) => new Poster(`http://127.0.0.1:${(all.find((n) => n.label === label) as CausewayNode).port}/http-bind`)

  t.teardown(async () => {
    if (t.passing()) return
    await mkdir(ARTIFACTS, { recursive: true })
    await writeFile(join(ARTIFACTS, 'nginx.log'), nginx.logs())
    await writeFile(join(ARTIFACTS, 'prosody.log'), prosody.logs())
    for (const n of all) await writeFile(join(ARTIFACTS, `${n.label}.log`), n.logs())
    for (const n of all) t.comment(`--- ${n.label} ---\n${n.logs().slice(-3000)}`)
    t.comment(`whole logs: ${ARTIFACTS}`)
  })
  const unknownBefore = await sample(nodes, UNKNOWN_SID)
  const assertNoUnknownSid = async (t: Test, what: string) => t.same(delta(await sample(nodes, UNKNOWN_SID), unknownBefore), { node1: 0, node2: 0, node3: 0 }, `${what}: no node answered item-not-found`)

  /** One logged-in raw session per node. */
  const owned = new Map<string, RawSession>()

  await t.test('every BOSH request that lands on the wrong node is forwarded to the owner and answered from there', async (t) => {
    for (let i = 0; i < 12 && owned.size < LABELS.length; i++) {
      const session = await RawSession.create(bosh)
      if (owned.has(session.label)) await session.terminate()
      else owned.set(session.label, session)
    }
    t.same([...owned.keys()].sort(), [...LABELS], 'round robin created a session on every node')
    for (const [label, session] of owned) await session.login(byName(['alice', 'bob', 'carol'][LABELS.indexOf(label as (typeof LABELS)[number])] ?? 'alice'), 'raw')

    const stanzasBefore = await sample(nodes, STANZAS_UP)
    const answeredBefore = await sumForwarded(nodes, 'answered')
    // Two pings per session per round: with three nodes in rotation, each session's requests meet more than one node.
    const rounds = 4
    for (let i = 0; i < rounds; i++) for (const [label, session] of owned) for (const k of [0, 1]) await session.ping(`p-${label}-${i}-${k}`)
    const relayed = delta(await sample(nodes, STANZAS_UP), stanzasBefore)
    t.same(relayed, { node1: 2 * rounds, node2: 2 * rounds, node3: 2 * rounds }, 'every ping was relayed by the node that owns its session, and only there')
    const answered = delta(await sumForwarded(nodes, 'answered'), answeredBefore)
    t.comment(`forwarded (answered) by node: ${JSON.stringify(answered)} of ${rounds * 6} requests`)
    t.ok(total(answered) >= rounds * 2, `round robin put a good share of the requests on a wrong node, and each was forwarded (${total(answered)})`)
    for (const outcome of ['unreachable', 'refused', 'dropped']) t.equal(total(await sumForwarded(nodes, outcome)), 0, `no forward ended ${outcome}`)
    const hop = await node('node1').metrics()
    t.match(hop, /causeway_forwarding_latency_seconds_count\{peer="node[23]"\} [1-9]/, 'the hop latency is measured')
    await assertNoUnknownSid(t, 'raw sessions')
  })

  await t.test('a forwarded request is held as long as its owner holds it; XEP-0124 §19 holds across the hop', async (t) => {
    const at1 = direct('node1')
    const at2 = direct('node2')
    t.teardown(() => {
      at1.close()
      at2.close()
    })
    // A plain-HTTP session on node1 asking for wait=3; an empty request through node2 is held at node1 for the wait.
    const session = await RawSession.create(at1, 3)
    await session.login(byName('gina'), 'held')
    const started = Date.now()
    const empty = await session.request('', {}, at2)
    const took = Date.now() - started
    t.same(empty.getChildElements(), [], 'answered empty, as the owner answers at the end of the wait')
    t.ok(took >= 2500, `held at the owner for the wait (${took} ms), not cut by the forwarding node`)
    await session.terminate()

    // A session created over HTTPS (through nginx), then a request for it over plain HTTP at another node:
    // the forwarder passes tls=0, the owner refuses to serve it (§19), and the client's connection is closed unanswered.
    const secure = owned.get('node1') as RawSession
    const dropsBefore = await sample(nodes, 'causeway_refusals_total{transport="bosh",reason="insecure-request"}')
    const outcome = await at2.post(secure.wrap('')).then(
      (answer) => `answered ${answer.status}`,
      (error: Error & { code?: string }) => `connection closed (${error.code ?? error.message})`,
    )
    t.match(outcome, /^connection closed/, `§19: no answer at all through the forwarding node (${outcome})`)
    t.same(delta(await sample(nodes, 'causeway_refusals_total{transport="bosh",reason="insecure-request"}'), dropsBefore), { node1: 1, node2: 0, node3: 0 }, 'the owner judged it, with the scheme node2 reported')
    t.equal(metricValue(await node('node2').metrics(), forwarded('node1', 'dropped')), 1, 'node2 counted it as dropped')
    secure.rid -= 1
    await secure.ping('after-insecure')
    t.pass('the request did not count: the session carries on over HTTPS')
  })

  await t.test('Strophe.js over BOSH through nginx: two users exchange messages in order', async (t) => {
    NodeXMLHttpRequest.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 8, ca, localAddress: CLIENT_ADDRESS, family: 4 })
    t.teardown(() => NodeXMLHttpRequest.httpsAgent.destroy())
    const answeredBefore = await sumForwarded(nodes, 'answered')
    const erin = await connectStrophe(`${base}/http-bind`, 'erin@localhost/bosh', byName('erin').password)
    const frank = await connectStrophe(`${base}/http-bind`, 'frank@localhost/bosh', byName('frank').password)
    t.teardown(() => Promise.all([erin.disconnect(), frank.disconnect()]))
    const count = 20
    for (let i = 0; i < count; i++) {
      erin.sendMessage(frank.jid, `erin→frank ${i}`)
      frank.sendMessage(erin.jid, `frank→erin ${i}`)
    }
    const expect = (from: string, to: string) => Array.from({ length: count }, (_, i) => `${from}→${to} ${i}`)
    t.same(await frank.waitForBodies(count), expect('erin', 'frank'), 'in order, once each')
    t.same(await erin.waitForBodies(count), expect('frank', 'erin'), 'and back')
    await Promise.all([erin.disconnect(), frank.disconnect()])
    t.ok(total(delta(await sumForwarded(nodes, 'answered'), answeredBefore)) > 0, 'Strophe’s requests were forwarded too')
    await assertNoUnknownSid(t, 'Strophe over BOSH')
  })

  await t.test('a forged Causeway-Forwarded header from a client is ignored; a wrong proof is refused', async (t) => {
    // Straight to node1 (no nginx to strip it), over plain HTTP: a session created here is not an HTTPS one.
    const at1 = direct('node1')
    const at2 = direct('node2')
    t.teardown(() => {
      at1.close()
      at2.close()
    })
    const session = await RawSession.create(at1)
    t.equal(session.label, 'node1')
    await session.login(byName('dave'), 'forged')
    const failuresBefore = await sample(nodes, 'causeway_refusals_total{transport="bosh",reason="peer-proof"}')
    const forgedFacts = 'v1;by=node2;to=node1;at=0;for=198.51.100.7;tls=1'
    await session.ping('forged-facts', { 'causeway-forwarded': forgedFacts })
    t.pass('facts without a proof: ignored, the request served as any other')
    const created = node('node1').logLines().find((l) => l.msg === 'bosh session created' && l.remote === '198.51.100.7')
    t.notOk(created, 'the forged address is believed nowhere')
    // The same at a node that does not own the session: it forwards with its own proof, not the forged one.
    const fwdBefore = await sumForwarded([node('node2')], 'answered')
    await session.ping('forged-at-node2', { 'causeway-forwarded': forgedFacts }, at2)
    t.equal(total(delta(await sumForwarded([node('node2')], 'answered'), fwdBefore)), 1, 'node2 forwarded it to node1 under its own proof')

    // A proof made with another secret (a misconfigured peer, or a guess): refused before anything is done.
    const wrong = new PeerProof(WRONG_SECRET, 'node2', Date.now)
    const body = session.wrap(`<iq type='get' id='never' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>`)
    const stanzasBefore = await sample(nodes, STANZAS_UP)
    const refused = await at1.post(body, { 'causeway-forwarded': wrong.sign('node1', { address: '198.51.100.7', secure: true }, { method: 'POST', path: '/http-bind', origin: undefined, body: Buffer.from(body) }) })
    t.equal(refused.status, 403, 'a wrong secret is refused with 403')
    t.equal(refused.headers['causeway-peer-refused'], 'bad-mac')
    t.same(delta(await sample(nodes, STANZAS_UP), stanzasBefore), { node1: 0, node2: 0, node3: 0 }, 'and nothing was relayed')
    // A well-formed proof for another node, sent to node2: refused there, not forwarded on.
    const right = new PeerProof(SECRET, 'node3', Date.now)
    const forNode1 = right.sign('node1', { address: '198.51.100.7', secure: true }, { method: 'POST', path: '/http-bind', origin: undefined, body: Buffer.from(body) })
    const fwd2 = await sumForwarded([node('node2')], 'answered')
    const elsewhere = await at2.post(body, { 'causeway-forwarded': forNode1 })
    t.equal(elsewhere.status, 403, 'a proof addressed to node1 is refused at node2')
    t.equal(elsewhere.headers['causeway-peer-refused'], 'wrong-node')
    t.same(delta(await sumForwarded([node('node2')], 'answered'), fwd2), { node2: 0 }, 'and not forwarded')
    t.same(delta(await sample(nodes, 'causeway_refusals_total{transport="bosh",reason="peer-proof"}'), failuresBefore), { node1: 1, node2: 1, node3: 0 })
    // The refused requests consumed nothing: the session carries on with the same rid.
    session.rid -= 1
    await session.ping('after-refusals')
    t.pass('the session carries on')

    // Origin is judged by the forwarder and again by the owner, proof or not.
    const evil = { origin: 'https://evil.example' }
    const byForwarder = await at2.post(session.wrap(''), evil)
    t.equal(byForwarder.status, 403, 'a disallowed Origin is refused by the node it reaches, before any forwarding')
    const proofWithEvilOrigin = right.sign('node1', { address: '198.51.100.7', secure: false }, { method: 'POST', path: '/http-bind', origin: evil.origin, body: Buffer.from(session.wrap('', session.rid)) })
    const byOwner = await at1.post(session.wrap('', session.rid), { ...evil, 'causeway-forwarded': proofWithEvilOrigin })
    t.equal(byOwner.status, 403, 'and by the owner even under a valid proof')
    t.equal(byOwner.text, 'Origin not allowed\n')
    session.rid -= 1
    await session.terminate()

    // Through nginx the header never even arrives (the shipped config clears it).
    const viaNginx = owned.get('node3') as RawSession
    await viaNginx.ping('forged-via-nginx', { 'causeway-forwarded': `${forgedFacts};mac=${'A'.repeat(43)}` })
    t.pass('through nginx a forged header with a mac is cleared, so the request is served')
  })

  await t.test('a node with the wrong secret: its forwards are refused by the owner, its client gets item-not-found', async (t) => {
    const victim = owned.get('node1') as RawSession
    const at4 = direct('node4')
    t.teardown(() => at4.close())
    const refusedBefore = metricValue(await rogue.metrics(), forwarded('node1', 'refused'))
    const answer = await at4.post(victim.wrap(''))
    const body = bodyOf(answer)
    t.equal(body.attrs.type, 'terminate')
    t.equal(body.attrs.condition, 'item-not-found', 'the spec answer for a session it cannot reach')
    t.equal(metricValue(await rogue.metrics(), forwarded('node1', 'refused')) - refusedBefore, 1, 'counted as refused at the forwarder')
    t.ok(rogue.logLines().some((l) => l.msg?.toString().startsWith('peer refused our forwarding proof')), 'and logged as an error there')
    t.notMatch(rogue.logs() + node('node1').logs(), SECRET.slice(0, 12), 'no secret in any log')
    t.notMatch(rogue.logs(), WRONG_SECRET.slice(0, 12))
    // The refused request did not touch the session: the same rid works through nginx.
    victim.rid -= 1
    await victim.ping('after-rogue')
  })

  await t.test('SIGKILL of one node during traffic: sessions on the other nodes lose nothing', async (t) => {
    NodeXMLHttpRequest.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 8, ca, localAddress: CLIENT_ADDRESS, family: 4 })
    t.teardown(() => NodeXMLHttpRequest.httpsAgent.destroy())
    const sid = (c: StropheClient) => (c.connection as unknown as { _proto: { sid?: string } })._proto.sid ?? ''
    const clients: StropheClient[] = []
    t.teardown(() => Promise.all(clients.map((c) => c.disconnect())))
    const connectAway = async (name: string): Promise<StropheClient> => {
      for (let i = 0; i < 6; i++) {
        const c = await connectStrophe(`${base}/http-bind`, `${name}@localhost/k${i}`, byName(name).password)
        clients.push(c)
        if (labelOf(sid(c)) !== CRASHING) return c
      }
      throw new Error(`no session for ${name} away from ${CRASHING}`)
    }
    const gina = await connectAway('gina')
    const hank = await connectAway('hank')
    t.comment(`gina on ${labelOf(sid(gina))}, hank on ${labelOf(sid(hank))}`)
    const count = 40
    const sending = (async () => {
      for (let i = 0; i < count; i++) {
        gina.sendMessage(hank.jid, `g→h ${i}`)
        hank.sendMessage(gina.jid, `h→g ${i}`)
        await sleep(25)
      }
    })()
    await sleep(300)
    t.ok(node(CRASHING).signal('SIGKILL'), `SIGKILL to ${CRASHING} mid-traffic`)
    await sending
    const expect = (prefix: string) => Array.from({ length: count }, (_, i) => `${prefix} ${i}`)
    t.same(await hank.waitForBodies(count), expect('g→h'), 'every message, once, in order')
    t.same(await gina.waitForBodies(count), expect('h→g'), 'both ways')
    await eventually('both sessions still answering', async () => hank.bodies.length === count && gina.bodies.length === count)
    t.same(hank.bodies.length, count, 'no duplicates')
    t.same(gina.bodies.length, count)
  })

  await t.test(`drain with hand-off: no new session on ${HANDING_OFF}, open ones carry on, and an xmpp.js client with stream management resumes on another node with every message once and in order`, async (t) => {
    const globals = globalThis as unknown as { WebSocket: unknown }
    const original = globals.WebSocket
    globals.WebSocket = class TrustingWebSocket extends WsWebSocket {
      constructor(address: string, protocols?: string | string[], options: ClientOptions = {}) {
        super(address, protocols, { ca, localAddress: CLIENT_ADDRESS, family: 4, ...options })
      }
    }
    t.teardown(() => {
      globals.WebSocket = original
    })
    const live = nodes.filter((n) => n.label !== CRASHING)
    const wsOpen = () => sample(live, 'causeway_sessions_open{transport="websocket"}')
    const started: Array<ReturnType<typeof xmppClient>> = []
    t.teardown(() => Promise.all(started.map((x) => x.stop().catch(() => {}))))
    /** An xmpp.js client (reconnect on, as shipped) on the node `want` says, or anywhere else. */
    const connectOn = async (name: string, want: (label: string) => boolean) => {
      for (let i = 0; i < 8; i++) {
        const before = await wsOpen()
        const x = xmppClient({ service: `wss://localhost:${nginx.port}/xmpp-websocket`, domain: 'localhost', resource: `r${i}`, username: name, password: byName(name).password })
        x.on('error', () => {})
        started.push(x)
        await x.start()
        const after = await eventually('a new websocket session', async () => {
          const counts = await wsOpen()
          return total(counts) > total(before) ? counts : undefined
        })
        const landed = live.find((n) => (after[n.label] ?? 0) > (before[n.label] ?? 0))?.label ?? '?'
        if (want(landed)) return { x, landed }
        x.reconnect.stop()
        await x.stop()
      }
      throw new Error(`no session for ${name} where wanted`)
    }
    const { x: alice, landed } = await connectOn('alice', (l) => l === HANDING_OFF)
    const { x: bob } = await connectOn('bob', (l) => l !== HANDING_OFF)
    t.equal(landed, HANDING_OFF, `alice on ${HANDING_OFF}`)
    const sm = (alice as unknown as { streamManagement: { enabled: boolean; id: string; on(e: 'resumed', l: () => void): void } }).streamManagement
    await eventually('stream management enabled', () => sm.enabled)
    const smId = sm.id
    let resumed = 0
    sm.on('resumed', () => resumed++)
    const received: string[] = []
    alice.on('stanza', (s: Element) => {
      if (s.is('message') && s.getChild('body')) received.push(s.getChildText('body') ?? '')
    })
    const aliceJid = `alice@localhost/${(alice as unknown as { jid: { resource: string } }).jid.resource}`
    // A BOSH session owned by the draining node, to show open sessions carry on.
    let boshOnDrainer: RawSession | undefined
    for (let i = 0; i < 6 && boshOnDrainer === undefined; i++) {
      const s = await RawSession.create(bosh)
      if (s.label === HANDING_OFF) boshOnDrainer = s
      else await s.terminate()
    }
    if (!boshOnDrainer) throw new Error(`no BOSH session on ${HANDING_OFF}`)
    await boshOnDrainer.login(byName('carol'), 'drain')

    const count = 50
    const sending = (async () => {
      for (let i = 0; i < count; i++) {
        await bob.send(xml('message', { to: aliceJid, type: 'chat', id: `m${i}` }, xml('body', {}, `move ${i}`)))
        await sleep(100)
      }
    })()
    await sleep(500)
    const drainer = node(HANDING_OFF)
    const sessionsBefore = metricValue(await drainer.metrics(), 'causeway_sessions_total{transport="bosh"}')
    t.ok(drainer.signal('SIGTERM'), `SIGTERM to ${HANDING_OFF} (drain ${HANDOFF_DRAIN_MS} ms, then hand-off)`)
    await eventually(`${HANDING_OFF} /readyz 503`, async () => (await drainer.readyStatus()) === 503)
    const fresh = await Promise.all(Array.from({ length: 4 }, () => RawSession.create(bosh)))
    t.ok(fresh.every((s) => s.label !== HANDING_OFF), `new sessions while it drains go elsewhere (${fresh.map((s) => s.label).join(', ')})`)
    t.equal(metricValue(await drainer.metrics(), 'causeway_sessions_total{transport="bosh"}'), sessionsBefore, 'none was created there')
    await Promise.all(fresh.map((s) => s.terminate()))
    await boshOnDrainer.ping('while-draining')
    t.pass(`the open BOSH session on ${HANDING_OFF} still works while it drains`)

    await sending
    await eventually('alice to resume', () => resumed > 0, 30_000)
    t.equal(sm.id, smId, 'the same stream management session')
    const ping = await bob.iqCaller.request(xml('iq', { type: 'get', to: 'localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' })))
    t.equal(ping.attrs.type, 'result')
    await eventually(`all ${count} messages at alice`, () => received.length >= count, 20_000)
    await sleep(300)
    t.same(received, Array.from({ length: count }, (_, i) => `move ${i}`), 'every message sent during the move, exactly once, in order')
    const wsNow = await sample(live.filter((n) => n.label !== HANDING_OFF), 'causeway_sessions_open{transport="websocket"}')
    t.ok(total(wsNow) >= 2, `alice is back on ${JSON.stringify(wsNow)}`)
    t.ok(drainer.logLines().some((l) => l.reason === 'handoff' && l.transport === 'websocket'), `${HANDING_OFF} logged the WebSocket session's end as a hand-off`)
    // The BOSH session ended with system-shutdown (the client reconnects); its stream was left to Prosody.
    const after = await boshOnDrainer.http.post(boshOnDrainer.wrap(''))
    const ended = bodyOf(after)
    t.match(ended.attrs.condition ?? '', /^(system-shutdown|item-not-found)$/, `the BOSH session on ${HANDING_OFF} was ended (${ended.attrs.condition})`)
  })

  for (const session of owned.values()) await session.terminate()
})
