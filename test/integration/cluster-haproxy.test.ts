/**
 * Several Causeway processes as one service behind HAProxy, routed on the
 * node label in the BOSH sid with no stick table: docs/deploy/haproxy-cluster.cfg
 * run as shipped (only ports, addresses and paths rewritten) by the Debian
 * HAProxy, terminating TLS with a test CA, in front of three `causeway`
 * processes (--node-id node1, node2, node3) and one real Prosody.
 *
 * Routing is judged from each node's own /metrics, read straight from the
 * node: a request that reached the wrong node would be refused there as an
 * unknown sid (`causeway_refusals_total{transport="bosh",reason="unknown-sid"}`)
 * and answered `item-not-found`, and every stanza a request carries is
 * counted by the node that relayed it
 * (`causeway_stanzas_total{transport="bosh",direction="to_upstream"}`). While
 * a check runs nothing else talks to the nodes, so each request's stanza
 * shows up on exactly one node, and it must be the one its sid names.
 *
 * Clients connect from 127.0.0.2 while HAProxy reaches the nodes from
 * 127.0.0.1, the nodes' one trusted proxy, so the logs show whether the
 * client address made it through.
 */
import { execFile } from 'node:child_process'
import { createHash, randomBytes, randomInt } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import http2 from 'node:http2'
import https from 'node:https'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import tls from 'node:tls'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import type { Test } from 'tap'
import { parse as parseXml } from 'ltx'
import type { Element } from 'ltx'
import { WebSocket as WsWebSocket } from 'ws'
import type { ClientOptions } from 'ws'
import { OPTIONS } from '../../src/config/options.js'
import { findDaemon } from '../helpers/daemon.js'
import { metricValue, SHIPPED_CLUSTER_CFG, startCausewayNode, startShippedCluster } from '../helpers/cluster.js'
import type { CausewayNode, RunningClusterProxy } from '../helpers/cluster.js'
import { startProsody } from '../helpers/prosody.js'
import { connectStrophe } from '../helpers/strophe-client.js'
import type { StropheClient } from '../helpers/strophe-client.js'
import { makeTlsFixtures } from '../helpers/tls.js'
import { NodeXMLHttpRequest } from '../helpers/xhr-shim.js'
import { rawClient } from '../helpers/ws-client.js'
import { NS } from '../../src/core/conditions.js'

const execFileAsync = promisify(execFile)
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/cluster-haproxy/', import.meta.url))
const COMPOSE_CLUSTER_CFG = fileURLToPath(new URL('../../docker/haproxy/haproxy-cluster.cfg', import.meta.url))

const LABELS = ['node1', 'node2', 'node3'] as const
/** Started with a drain period, for the health-check test. */
const DRAINING = 'node3'
/** Killed in the last test. */
const CRASHING = 'node2'
const DRAIN_MS = 30_000
/** Clients' source address; HAProxy reaches the nodes from 127.0.0.1. */
const CLIENT_ADDRESS = '127.0.0.2'

const user = (name: string) => ({ username: name, password: `${name}-cluster-pw` })
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hank', 'ivan', 'judy', 'kim'].map(user)
type User = ReturnType<typeof user>
const byName = (name: string): User => USERS.find((u) => u.username === name) ?? user(name)

const STANZAS_UP = 'causeway_stanzas_total{transport="bosh",direction="to_upstream"}'
const UNKNOWN_SID = 'causeway_refusals_total{transport="bosh",reason="unknown-sid"}'
const labelOf = (sid: string) => sid.slice(0, sid.indexOf('.'))
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;')
/** Causeway's log form of a session id (observability/logger.ts loggableId). */
const loggedSid = (sid: string) => createHash('sha256').update(sid).digest('hex').slice(0, 16)

// ───────────────────────── HTTP through the proxy ─────────────────────────

interface Answer {
  readonly status: number
  readonly text: string
}

interface PostOptions {
  /** Send the body in two writes `pauseMs` apart, the first ending at this byte (headers go with it). */
  readonly splitAt?: number
  readonly pauseMs?: number
}

/** Something that POSTs a BOSH body to /http-bind through the proxy. */
interface Poster {
  post(body: string, options?: PostOptions): Promise<Answer>
}

/** POSTs to https://localhost:PORT/http-bind over HTTP/1.1 through one https.Agent; records every socket it used. */
class BoshHttp implements Poster {
  readonly agent: https.Agent
  readonly sockets = new Set<Socket>()
  requests = 0

  constructor(
    readonly url: string,
    readonly ca: Buffer,
    options: { maxSockets?: number } = {},
  ) {
    this.agent = new https.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 64, localAddress: CLIENT_ADDRESS, family: 4, ca })
  }

  post(body: string, options: PostOptions = {}): Promise<Answer> {
    const payload = Buffer.from(body)
    this.requests++
    return new Promise((resolve, reject) => {
      const request = https.request(
        this.url,
        { method: 'POST', agent: this.agent, headers: { 'Content-Type': 'text/xml; charset=utf-8', 'Content-Length': payload.length } },
        (response) => {
          const chunks: Buffer[] = []
          response.on('data', (chunk: Buffer) => chunks.push(chunk))
          response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
          response.on('error', reject)
        },
      )
      request.on('socket', (socket: Socket) => this.sockets.add(socket))
      request.setTimeout(45_000, () => request.destroy(new Error('no HTTP response within 45 s')))
      request.on('error', reject)
      if (options.splitAt === undefined) {
        request.end(payload)
        return
      }
      request.write(payload.subarray(0, options.splitAt))
      request.flushHeaders()
      setTimeout(() => request.end(payload.subarray(options.splitAt)), options.pauseMs ?? 300)
    })
  }

  close(): void {
    this.agent.destroy()
  }
}

/** POSTs over one HTTP/2 connection, as browsers do when the proxy offers h2 (ALPN): every request a stream of it. */
class BoshHttp2 implements Poster {
  readonly session: http2.ClientHttp2Session
  requests = 0

  constructor(
    readonly origin: string,
    ca: Buffer,
  ) {
    const { port } = new URL(origin)
    this.session = http2.connect(origin, {
      createConnection: () =>
        tls.connect({
          socket: connect({ host: '127.0.0.1', port: Number(port), localAddress: CLIENT_ADDRESS }),
          servername: 'localhost',
          ca,
          ALPNProtocols: ['h2'],
        }),
    })
    this.session.on('error', () => {})
  }

  post(body: string): Promise<Answer> {
    this.requests++
    return new Promise((resolve, reject) => {
      const stream = this.session.request({ ':method': 'POST', ':path': '/http-bind', 'content-type': 'text/xml; charset=utf-8' })
      let status = 0
      const chunks: Buffer[] = []
      stream.on('response', (headers) => (status = Number(headers[':status'])))
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('end', () => resolve({ status, text: Buffer.concat(chunks).toString('utf8') }))
      stream.on('error', reject)
      stream.end(body)
    })
  }

  close(): void {
    this.session.close()
  }
}

/** The <body/> of a 200 answer, or an error naming what came back. */
function bodyOf(answer: Answer): Element {
  if (answer.status !== 200) throw new Error(`HTTP ${answer.status}: ${answer.text.slice(0, 200)}`)
  const body = parseXml(answer.text)
  if (!body.is('body', NS.httpbind)) throw new Error(`not a BOSH body: ${answer.text.slice(0, 200)}`)
  return body
}

/** How a request body is written around `payload`: the attribute order, quotes and whitespace under test. */
type Wrapper = (rid: number, sid: string, payload: string) => string
const plainWrapper: Wrapper = (rid, sid, payload) => `<body rid='${rid}' sid='${sid}' xmlns='${NS.httpbind}'>${payload}</body>`

/**
 * A raw XEP-0124/0206 session, one request at a time (hold=1): each request
 * that carries something the server answers (SASL, restart, bind, an iq, a
 * message to oneself) comes back as soon as the answer is there.
 */
class RawSession {
  readonly inbox: Element[] = []
  #rid: number
  jid = ''

  private constructor(
    public http: Poster,
    readonly sid: string,
    rid: number,
  ) {
    this.#rid = rid
  }

  get label(): string {
    return labelOf(this.sid)
  }

  /** A session creation (no sid), optionally carrying `payload`; the answer must create a session. */
  static async create(http: Poster, options: { payload?: string; wait?: number } = {}): Promise<RawSession> {
    const rid = randomInt(1, 2 ** 32) * 1024
    const attributes =
      `content='text/xml; charset=utf-8' hold='1' rid='${rid}' to='localhost' ver='1.11' wait='${options.wait ?? 10}' ` +
      `xml:lang='en' xmpp:version='1.0' xmlns='${NS.httpbind}' xmlns:xmpp='urn:xmpp:xbosh'`
    const answer = await http.post(options.payload ? `<body ${attributes}>${options.payload}</body>` : `<body ${attributes}/>`)
    const body = bodyOf(answer)
    const sid = body.attrs.sid
    if (typeof sid !== 'string' || body.attrs.type === 'terminate') throw new Error(`no session created: ${answer.text}`)
    const session = new RawSession(http, sid, rid)
    session.inbox.push(...body.getChildElements())
    return session
  }

  /** The next rid's answer; payloads it carries land in the inbox. Throws on a terminate or non-200. */
  async request(payload = '', options: { wrapper?: Wrapper; split?: (text: string) => number } = {}): Promise<Element> {
    const rid = ++this.#rid
    const text = (options.wrapper ?? plainWrapper)(rid, this.sid, payload)
    const answer = await this.http.post(text, options.split ? { splitAt: options.split(text) } : {})
    const body = bodyOf(answer)
    if (body.attrs.type === 'terminate') throw new Error(`session ${this.sid} terminated: ${answer.text.slice(0, 300)}`)
    this.inbox.push(...body.getChildElements())
    return body
  }

  /** The body sent raw, for answers the caller judges itself (item-not-found). */
  async requestAnswer(payload = ''): Promise<Answer> {
    return await this.http.post(plainWrapper(++this.#rid, this.sid, payload))
  }

  /** Remove and return the first inbox element matching; polls with `poll` (a payload the server answers) until it comes. */
  async take(match: (e: Element) => boolean, what: string, poll = ''): Promise<Element> {
    for (let attempt = 0; attempt < 6; attempt++) {
      const index = this.inbox.findIndex(match)
      if (index >= 0) return this.inbox.splice(index, 1)[0] as Element
      await this.request(poll)
    }
    throw new Error(`${this.sid}: no ${what}; inbox ${this.inbox.map((e) => e.toString()).join(' ')}`)
  }

  /** SASL PLAIN, XEP-0206 restart, resource binding: one request each. */
  async login(account: User, resource: string): Promise<void> {
    await this.take((e) => e.is('features', NS.stream), 'stream features')
    await this.request(`<auth xmlns='${NS.sasl}' mechanism='PLAIN'>${Buffer.from(`\0${account.username}\0${account.password}`).toString('base64')}</auth>`)
    const outcome = await this.take((e) => e.getNS() === NS.sasl, 'SASL outcome')
    if (!outcome.is('success')) throw new Error(`SASL failed: ${outcome.toString()}`)
    await this.request('', {
      wrapper: (rid, sid) => `<body rid='${rid}' sid='${sid}' to='localhost' xml:lang='en' xmpp:restart='true' xmlns='${NS.httpbind}' xmlns:xmpp='urn:xmpp:xbosh'/>`,
    })
    await this.take((e) => e.is('features', NS.stream) && e.getChild('bind', NS.bind) !== undefined, 'features with bind')
    await this.request(`<iq type='set' id='bind' xmlns='jabber:client'><bind xmlns='${NS.bind}'><resource>${resource}</resource></bind></iq>`)
    const bound = await this.take((e) => e.is('iq') && e.attrs.id === 'bind', 'bind result')
    this.jid = bound.getChild('bind', NS.bind)?.getChildText('jid') ?? ''
    if (bound.attrs.type !== 'result' || this.jid === '') throw new Error(`bind failed: ${bound.toString()}`)
  }

  /** A message to our own full JID: the server sends it straight back, so the request is answered at once. */
  static echo(to: string, id: string, body: string, extra = ''): string {
    return `<message xmlns='jabber:client' to='${to}' type='chat' id='${id}'><body>${escapeXml(body)}</body>${extra}</message>`
  }

  async terminate(): Promise<void> {
    await this.http.post(`<body rid='${++this.#rid}' sid='${this.sid}' type='terminate' xmlns='${NS.httpbind}'/>`).catch(() => {})
  }
}

const ping = (id: string) => `<iq type='get' id='${id}' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>`
const isIq = (id: string) => (e: Element) => e.is('iq') && e.attrs.id === id
const isMessage = (id: string) => (e: Element) => e.is('message') && e.attrs.id === id

// ───────────────────────── per-node metrics ─────────────────────────

type Counts = Record<string, number>

async function sample(nodes: readonly CausewayNode[], series: string): Promise<Counts> {
  const entries = await Promise.all(nodes.map(async (node) => [node.label, metricValue(await node.metrics(), series)] as const))
  return Object.fromEntries(entries)
}

function delta(after: Counts, before: Counts): Counts {
  return Object.fromEntries(Object.entries(after).map(([label, value]) => [label, value - (before[label] ?? 0)]))
}

/** { node1: 0, node2: 1, node3: 0 } for `label`, over the given labels. */
function only(label: string, value: number, labels: readonly string[] = LABELS): Counts {
  return Object.fromEntries(labels.map((l) => [l, l === label ? value : 0]))
}

const total = (counts: Counts) => Object.values(counts).reduce((a, b) => a + b, 0)

/** Poll `ready` every 50 ms until it holds; fail naming `what` after `timeoutMs`. */
async function until(ready: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

function countLabels(sids: readonly string[]): Counts {
  const counts: Counts = Object.fromEntries(LABELS.map((l) => [l, 0]))
  for (const sid of sids) counts[labelOf(sid)] = (counts[labelOf(sid)] ?? 0) + 1
  return counts
}

// ───────────────────────── the shipped config, statically ─────────────────────────

/** `90s`, `1h`, `5000` (ms, HAProxy's default unit) → milliseconds. */
function durationMs(value: string): number {
  const match = /^(\d+)(ms|s|m|h)?$/.exec(value)
  if (!match) throw new Error(`not a duration: ${value}`)
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 'ms'] ?? 1
  return Number(match[1]) * unit
}

/** The directive lines of a config (comments and blank lines dropped, indentation trimmed). */
const directives = (text: string) =>
  text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))

/** The routing, balancing, retry and health lines of the nodes' backend: everything but the server addresses. */
function backendRouting(text: string): string[] {
  const lines = directives(text)
  const start = lines.indexOf('backend causeway_nodes')
  const section = lines.slice(start + 1)
  const end = section.findIndex((line) => /^(frontend|backend|listen|defaults|global|resolvers)\b/.test(line))
  return (end === -1 ? section : section.slice(0, end)).filter((line) => !/^(server|default-server)\s/.test(line))
}

t.test('the shipped cluster config: no stick table, routing on the sid label, timeouts above Causeway’s defaults', async (t) => {
  const text = await readFile(SHIPPED_CLUSTER_CFG, 'utf8')
  const lines = directives(text)
  const timeout = (name: string) => {
    const found = lines.filter((l) => l.startsWith(`timeout ${name} `)).map((l) => durationMs(l.split(/\s+/)[2] ?? ''))
    t.equal(found.length, 1, `timeout ${name} is set once`)
    return found[0] ?? 0
  }
  t.ok(timeout('client') > OPTIONS.boshMaxWaitMs.default, 'timeout client > BOSH wait (a held request outlives it)')
  t.ok(timeout('server') > OPTIONS.boshMaxWaitMs.default, 'timeout server > BOSH wait')
  t.ok(timeout('http-keep-alive') > OPTIONS.boshMaxWaitMs.default, 'an idle keep-alive connection outlives a wait')
  t.ok(timeout('tunnel') > OPTIONS.wsPingIntervalMs.default, 'timeout tunnel (WebSocket) > ping interval')

  const routing = backendRouting(text)
  t.ok(routing.includes('balance leastconn'), 'new sessions and WebSockets: leastconn')
  t.ok(routing.includes('option http-buffer-request'), 'waits for the body before routing')
  t.ok(routing.includes('use-server %[var(txn.bosh_node)] if { var(txn.bosh_node) -m found }'), 'routes on the label to the server of that name')
  t.ok(routing.some((l) => l.startsWith('http-request set-var(txn.bosh_node,ifnotempty) ') && l.includes('req.body,regsub(')), 'the label comes from the body')
  t.ok(routing.includes('option persist'), 'a draining (DOWN) node still gets its own sessions’ requests')
  t.ok(routing.includes('option redispatch 1'), 'a node that is gone: the retry goes to another node')
  t.ok(routing.includes('retry-on conn-failure 503'), 'creations refused by a draining node are retried elsewhere')
  t.ok(routing.includes('http-request disable-l7-retry if { var(txn.bosh_node) -m found }'), 'requests of a session are not retried on a status (and keep no copy)')
  t.ok(routing.includes('option httpchk GET /readyz'), 'health from /readyz, which turns 503 while draining')
  t.notOk(lines.some((l) => /^(stick|stick-table|cookie|appsession)\b/.test(l) || /\bbalance source\b/.test(l)), 'no stick table, cookie or source hashing')

  const servers = lines.filter((l) => l.startsWith('server ')).map((l) => l.split(/\s+/)[1] ?? '')
  t.same(servers, [...LABELS], 'one server per node, named like the node label')
  for (const name of servers) t.ok('value' in OPTIONS.nodeId.check!(name), `server name ${name} is a valid nodeId`)

  // The compose file's variant must route exactly like the shipped one, and be a valid HAProxy config itself
  // (its servers are compose service names, unresolvable here: `init-addr libc,none` lets it start without them).
  t.same(backendRouting(await readFile(COMPOSE_CLUSTER_CFG, 'utf8')), routing, 'docker/haproxy/haproxy-cluster.cfg routes like the shipped file')
  const check = await execFileAsync(findDaemon('haproxy', 'haproxy', 'HAProxy'), ['-c', '-f', COMPOSE_CLUSTER_CFG]).then(
    () => 'valid',
    (error: { stderr?: string }) => error.stderr ?? String(error),
  )
  t.equal(check, 'valid', 'haproxy -c accepts docker/haproxy/haproxy-cluster.cfg')
})

// ───────────────────────── the cluster at work ─────────────────────────

t.test('three Causeway processes behind the shipped HAProxy cluster config', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'causeway-cluster-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const certs = await makeTlsFixtures(dir, 'localhost')
  const ca = await readFile(certs.ca.caCertPath)
  const prosody = await startProsody({ users: USERS, logLevel: 'info' })
  t.teardown(() => prosody.stop())
  const started = await Promise.allSettled(
    LABELS.map((label) =>
      startCausewayNode({
        label,
        upstreamPort: prosody.c2sPort,
        args: label === DRAINING ? ['--shutdown-drain-ms', String(DRAIN_MS)] : [],
      }),
    ),
  )
  const nodes = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))
  t.teardown(() => Promise.all(nodes.map((node) => node.stop())))
  for (const result of started) if (result.status === 'rejected') throw result.reason
  const node = (label: string) => nodes.find((n) => n.label === label) as CausewayNode
  const proxy: RunningClusterProxy = await startShippedCluster({ nodes: nodes.map((n) => ({ label: n.label, port: n.port })), cert: certs.good })
  t.teardown(() => proxy.stop())
  const base = `https://localhost:${proxy.port}`
  const bosh = new BoshHttp(`${base}/http-bind`, ca)
  t.teardown(() => bosh.close())

  const unknownSidBefore = await sample(nodes, UNKNOWN_SID)
  /** The unknown-sid refusals each node may have had since the start: only those a test caused on purpose. */
  let unknownSidExpected: Counts = only('', 0)
  const assertNoMisrouting = async (t: Test, what: string) => {
    t.same(delta(await sample(nodes, UNKNOWN_SID), unknownSidBefore), unknownSidExpected, `${what}: no node saw a sid it does not hold`)
  }
  // On failure: the tails here, the whole logs in test-artifacts/cluster-haproxy/.
  t.teardown(async () => {
    if (t.passing()) return
    await mkdir(ARTIFACTS, { recursive: true })
    await writeFile(join(ARTIFACTS, 'haproxy.log'), proxy.logs())
    for (const n of nodes) await writeFile(join(ARTIFACTS, `${n.label}.log`), n.logs())
    for (const n of nodes) t.comment(`--- ${n.label} ---\n${n.logs().slice(-3000)}`)
    t.comment(proxy.logs().slice(-5000))
    t.comment(`whole logs: ${ARTIFACTS}`)
  })

  /** Sessions by node, logged in, kept for the tests that follow (one per node). */
  const kept = new Map<string, RawSession>()

  await t.test('BOSH sessions are created on every node, and every follow-up request reaches its node', async (t) => {
    const sessionsBefore = await sample(nodes, 'causeway_sessions_total{transport="bosh"}')
    const closedBefore = await sample(nodes, 'causeway_session_closes_total{transport="bosh",reason="client-close",condition="normal"}')
    // Nine sessions, each keeping a request held at its node (as a BOSH client does) before the next is created:
    // leastconn then always has a node with fewer open connections to prefer.
    const sessions: RawSession[] = []
    const held: Array<Promise<Element>> = []
    for (let i = 1; i <= 9; i++) {
      const session = await RawSession.create(bosh, { wait: 20 })
      sessions.push(session)
      held.push(session.request())
      await until(async () => total(await sample(nodes, 'causeway_bosh_held_requests')) === i, `${i} requests held`)
    }
    const counts = countLabels(sessions.map((s) => s.sid))
    t.same(counts, { node1: 3, node2: 3, node3: 3 }, 'leastconn: every node got three of the nine')
    t.same(delta(await sample(nodes, 'causeway_sessions_total{transport="bosh"}'), sessionsBefore), counts, 'each node created exactly the sessions whose sids carry its label')
    t.same(await sample(nodes, 'causeway_sessions_open{transport="bosh"}'), counts, 'and holds them')

    // X-Forwarded-For from HAProxy, believed from the trusted proxy: the client's address, not 127.0.0.1.
    for (const session of sessions) {
      const created = node(session.label)
        .logLines()
        .find((l) => l.msg === 'bosh session created' && l.sid === loggedSid(session.sid))
      t.equal(created?.remote, CLIENT_ADDRESS, `${session.label} logged session ${loggedSid(session.sid)} as coming from the client`)
    }

    // X-Forwarded-Proto: the discovery links say https/wss though the nodes speak plain http.
    const hostMeta = await new Promise<string>((resolve, reject) => {
      https
        .get(`${base}/.well-known/host-meta.json`, { agent: bosh.agent }, (response) => {
          const chunks: Buffer[] = []
          response.on('data', (chunk: Buffer) => chunks.push(chunk))
          response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
        })
        .on('error', reject)
    })
    t.match(hostMeta, `"wss://localhost:${proxy.port}/xmpp-websocket"`, 'X-Forwarded-Proto believed: discovery names wss://')
    t.match(hostMeta, `"https://localhost:${proxy.port}/http-bind"`, 'and https://')

    // A terminate per session: it releases the held request and ends the session, each at its own node.
    await Promise.all(sessions.map((s) => s.terminate()))
    const heldBodies = await Promise.all(held)
    t.ok(heldBodies.every((b) => b.attrs.type === undefined), 'every held request was answered by its node, none with an error')
    t.same(delta(await sample(nodes, 'causeway_session_closes_total{transport="bosh",reason="client-close",condition="normal"}'), closedBefore), counts, 'each node closed its own sessions on their terminate')
    t.same(await sample(nodes, 'causeway_sessions_open{transport="bosh"}'), only('', 0), 'nothing left open')
    await assertNoMisrouting(t, 'creation, held requests, terminates')
  })

  await t.test('one keep-alive client connection carries the requests of sessions on every node', async (t) => {
    const single = new BoshHttp(`${base}/http-bind`, ca, { maxSockets: 1 })
    t.teardown(() => single.close())
    // Sequential creations on an idle cluster: leastconn rotates through the nodes.
    const extra: RawSession[] = []
    for (let i = 0; i < 9 && kept.size < LABELS.length; i++) {
      const session = await RawSession.create(single)
      if (kept.has(session.label)) extra.push(session)
      else kept.set(session.label, session)
    }
    t.same([...kept.keys()].sort(), [...LABELS], 'one session on each node')
    for (const session of extra) await session.terminate()
    const order = LABELS.map((label) => kept.get(label) as RawSession)
    const accounts = [byName('alice'), byName('bob'), byName('carol')]

    // Log the three in, one after the other, on the one connection.
    const upBefore = await sample(nodes, STANZAS_UP)
    for (const [i, session] of order.entries()) await session.login(accounts[i] as User, `single-${i}`)
    t.same(delta(await sample(nodes, STANZAS_UP), upBefore), Object.fromEntries(LABELS.map((l) => [l, 2])), 'each node relayed its own session’s SASL and bind, nobody else’s')

    // Each session sends a message to the next one (on another node) with a ping to keep the request short,
    // then each picks up the message from the one before: requests alternate between nodes.
    for (let round = 0; round < 3; round++) {
      for (const [i, session] of order.entries()) {
        const next = order[(i + 1) % order.length] as RawSession
        await session.request(RawSession.echo(next.jid, `m-${round}-${i}`, `round ${round} from ${session.label} to ${next.label}`) + ping(`p-${round}-${i}`))
        await session.take(isIq(`p-${round}-${i}`), 'ping result', ping(`q-${round}-${i}`))
      }
      for (const [i, session] of order.entries()) {
        const previous = (i + order.length - 1) % order.length
        const got = await session.take(isMessage(`m-${round}-${previous}`), `message m-${round}-${previous}`, ping(`r-${round}-${i}`))
        t.equal(got.getChildText('body'), `round ${round} from ${order[previous]?.label} to ${session.label}`, `round ${round}: ${session.label} got the message from ${order[previous]?.label}`)
      }
    }
    t.equal(single.sockets.size, 1, `all ${single.requests} requests went over one client connection`)
    // At least: three creations, three logins of three requests, three rounds of three messages.
    t.ok(single.requests >= 3 + 9 + 9, 'requests of three sessions on three nodes, interleaved')
    await assertNoMisrouting(t, 'one connection, three nodes')
    // The kept sessions carry on over the shared client.
    for (const session of order) session.http = bosh
  })

  await t.test('over HTTP/2, as browsers negotiate it: one connection multiplexes requests for every node at once', async (t) => {
    const h2 = new BoshHttp2(base, ca)
    const order = LABELS.map((label) => kept.get(label) as RawSession)
    for (const session of order) session.http = h2
    t.teardown(() => {
      for (const session of order) session.http = bosh
      h2.close()
    })
    const before = await sample(nodes, STANZAS_UP)
    for (let round = 0; round < 3; round++) {
      // One request of each session in flight at the same time, as three streams of the one connection.
      await Promise.all(order.map((session) => session.request(ping(`h2-${round}-${session.label}`))))
      for (const session of order) await session.take(isIq(`h2-${round}-${session.label}`), 'ping result', ping(`h2-${round}-${session.label}-poll`))
    }
    t.equal(h2.session.alpnProtocol, 'h2', 'HAProxy spoke HTTP/2 (ALPN h2)')
    const counted = delta(await sample(nodes, STANZAS_UP), before)
    for (const label of LABELS) t.ok((counted[label] ?? 0) >= 3, `${label} relayed its session’s pings (${counted[label]})`)
    await assertNoMisrouting(t, 'HTTP/2 streams for three nodes on one connection')
  })

  await t.test('the routing expression on real HAProxy: what it must read and what it must ignore', async (t) => {
    const owner = (label: string) => kept.get(label) as RawSession
    let n = 0
    /**
     * One request for the session on `label`, written with `wrapper`; its echo must come back and only `label` may
     * count the stanza. Meanwhile `label` is in HAProxy's DRAIN state (weight 0: still UP, so use-server picks it,
     * but leastconn never does): a request the expression fails to read can only land on another node, which
     * answers item-not-found. Without that, leastconn would pick the right node by chance one time in three.
     */
    const routedTo = async (label: string, what: string, options: { wrapper?: Wrapper; extra?: string; text?: string; split?: (text: string) => number } = {}) => {
      const session = owner(label)
      const id = `edge-${++n}`
      const text = options.text ?? what
      const before = await sample(nodes, STANZAS_UP)
      await proxy.admin(`set server causeway_nodes/${label} state drain`)
      t.match((await proxy.serverStatus()).get(label), /^DRAIN/, `${what}: ${label} takes no balanced requests meanwhile`)
      try {
        await session.request(RawSession.echo(session.jid, id, text, options.extra ?? ''), {
          ...(options.wrapper ? { wrapper: options.wrapper } : {}),
          ...(options.split ? { split: options.split } : {}),
        })
      } finally {
        await proxy.admin(`set server causeway_nodes/${label} state ready`)
      }
      const echoed = await session.take(isMessage(id), `echo of ${id}`, ping(`${id}-poll`))
      t.equal(echoed.getChildText('body'), text, `${what}: answered by the session's node`)
      const counted = delta(await sample(nodes, STANZAS_UP), before)
      // Polls (pings) may have followed on the same node; nothing may show up elsewhere.
      t.ok((counted[label] ?? 0) >= 1, `${what}: ${label} relayed it`)
      t.same({ ...counted, [label]: 0 }, only('', 0), `${what}: no other node saw anything`)
    }

    await routedTo('node2', "single quotes: <body rid='…' sid='node2.…'>")
    await routedTo('node3', 'double quotes: <body rid="…" sid="node3.…">', {
      wrapper: (rid, sid, payload) => `<body rid="${rid}" sid="${sid}" xmlns="${NS.httpbind}">${payload}</body>`,
    })
    await routedTo('node1', 'an XML declaration first', {
      wrapper: (rid, sid, payload) => `<?xml version='1.0' encoding='UTF-8'?>\n<body rid='${rid}' sid='${sid}' xmlns='${NS.httpbind}'>${payload}</body>`,
    })
    await routedTo('node2', 'newlines and tabs between attributes, spaces around =, sid last', {
      wrapper: (rid, sid, payload) =>
        `<body\n    rid='${rid}'\n\txml:lang='en'\r\n    xmlns='${NS.httpbind}'\n    xmlns:xmpp='urn:xmpp:xbosh'\n    sid = "${sid}"\n>${payload}</body>`,
    })
    await routedTo('node3', 'a byte-order mark before the XML declaration', {
      wrapper: (rid, sid, payload) => `\uFEFF<?xml version="1.0"?><body sid='${sid}' rid='${rid}' xmlns='${NS.httpbind}'>${payload}</body>`,
    })
    await routedTo('node1', 'sid=… inside the value of an attribute before the real sid', {
      wrapper: (rid, sid, payload) =>
        `<body rid='${rid}' xmlns='${NS.httpbind}' xmlns:ext='urn:example:ext' ext:note="moved from sid='node3.x' to" sid='${sid}'>${payload}</body>`,
    })
    const others = (label: string) => LABELS.filter((l) => l !== label)
    await routedTo('node1', 'a Jingle payload with sids naming the other nodes', {
      extra:
        `<jingle xmlns='urn:xmpp:jingle:1' action='transport-info' sid='${others('node1')[0]}.${randomBytes(18).toString('base64url')}'>` +
        `<content creator='initiator' name='chat'><transport xmlns='urn:xmpp:jingle:transports:ibb:1' block-size='4096' sid="${others('node1')[1]}.x"/></content></jingle>`,
    })
    // tune.bufsize is 16384: only the first part of this body is in the buffer when HAProxy routes it.
    const big = `40 KB: ${'Ωμέγα <&> '.repeat(4000)}`.slice(0, 40_000)
    const bytesBefore = await sample(nodes, 'causeway_bytes_total{transport="bosh",direction="to_upstream"}')
    await routedTo('node3', 'a 40 KB body, larger than HAProxy’s buffer', { text: big })
    const bytes = delta(await sample(nodes, 'causeway_bytes_total{transport="bosh",direction="to_upstream"}'), bytesBefore)
    t.ok((bytes.node3 ?? 0) > 40_000, `node3 relayed the whole message (${bytes.node3} bytes)`)
    for (const label of LABELS) {
      await routedTo(label, `a body that arrives in two parts 300 ms apart, split inside the label (${label})`, {
        // The first write ends in the middle of the label: sid='no|de1.…
        split: (text) => text.indexOf(` sid='${label}.`) + " sid='no".length,
      })
    }

    // A creation carrying a payload with a sid is balanced, not routed: the payload's label is ignored.
    const creations: RawSession[] = []
    for (let i = 0; i < 6; i++) {
      creations.push(await RawSession.create(bosh, { payload: `<presence xmlns='jabber:client'><jingle xmlns='urn:xmpp:jingle:1' sid='node3.${randomBytes(18).toString('base64url')}'/></presence>` }))
    }
    const created = countLabels(creations.map((s) => s.sid))
    t.comment(`creations with a node3 payload sid landed on ${JSON.stringify(created)}`)
    t.ok((created.node1 ?? 0) + (created.node2 ?? 0) >= 2, 'creations with a payload sid are balanced, not sent to the node the payload names')
    await Promise.all(creations.map((s) => s.terminate()))
    await assertNoMisrouting(t, 'quote styles, declaration, whitespace, payload sids, large and slow bodies')

    // A label that names no server: leastconn picks a node, which answers item-not-found; HAProxy carries on.
    const before = await sample(nodes, UNKNOWN_SID)
    const answer = await bosh.post(`<body rid='7' sid='node9.${randomBytes(18).toString('base64url')}' xmlns='${NS.httpbind}'/>`)
    const body = bodyOf(answer)
    t.equal(body.attrs.type, 'terminate', 'a sid for an unknown node ends in a terminate')
    t.equal(body.attrs.condition, 'item-not-found', 'with item-not-found, from whichever node got it')
    const refused = delta(await sample(nodes, UNKNOWN_SID), before)
    t.equal(total(refused), 1, `exactly one node answered it (${JSON.stringify(refused)})`)
    unknownSidExpected = Object.fromEntries(LABELS.map((l) => [l, (unknownSidExpected[l] ?? 0) + (refused[l] ?? 0)]))
    const pong = await owner('node1').request(ping('after-unknown'))
    t.ok(pong, 'and the proxy routes the next request as before')
    await owner('node1').take(isIq('after-unknown'), 'ping result')
    await assertNoMisrouting(t, 'after the unknown label')
  })

  await t.test('Strophe.js over BOSH and over WebSocket: users on different nodes exchange messages', async (t) => {
    NodeXMLHttpRequest.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 8, ca, localAddress: CLIENT_ADDRESS, family: 4 })
    // Strophe's Node build uses the global WebSocket (set to `ws` on import): trust the test CA.
    const globals = globalThis as unknown as { WebSocket: unknown }
    const original = globals.WebSocket
    globals.WebSocket = class TrustingWebSocket extends WsWebSocket {
      constructor(address: string, protocols?: string | string[], options: ClientOptions = {}) {
        super(address, protocols, { ca, localAddress: CLIENT_ADDRESS, family: 4, ...options })
      }
    }
    t.teardown(() => {
      globals.WebSocket = original
      NodeXMLHttpRequest.httpsAgent.destroy()
    })
    const boshSid = (client: StropheClient) => (client.connection as unknown as { _proto: { sid?: string } })._proto.sid ?? ''
    const wsOpen = () => sample(nodes, 'causeway_sessions_open{transport="websocket"}')
    /** The node a new WebSocket session went to: the one whose open count grew. */
    const wsNode = (before: Counts, after: Counts) => LABELS.find((l) => (after[l] ?? 0) > (before[l] ?? 0)) ?? '?'

    const clients: StropheClient[] = []
    t.teardown(() => Promise.all(clients.map((c) => c.disconnect())))
    const connect = async (service: string, name: string, resource: string) => {
      const client = await connectStrophe(service, `${name}@localhost/${resource}`, byName(name).password)
      clients.push(client)
      return client
    }

    const erin = await connect(`${base}/http-bind`, 'erin', 'bosh')
    let frank = await connect(`${base}/http-bind`, 'frank', 'bosh')
    // leastconn puts the second session elsewhere (erin's held request counts on her node); make sure of it.
    for (let i = 0; i < 3 && labelOf(boshSid(frank)) === labelOf(boshSid(erin)); i++) frank = await connect(`${base}/http-bind`, 'frank', `bosh-${i}`)
    t.not(labelOf(boshSid(frank)), labelOf(boshSid(erin)), `BOSH: erin on ${labelOf(boshSid(erin))}, frank on ${labelOf(boshSid(frank))}`)

    let before = await wsOpen()
    const gina = await connect(`wss://localhost:${proxy.port}/xmpp-websocket`, 'gina', 'ws')
    const ginaNode = wsNode(before, await wsOpen())
    let hank: StropheClient | undefined
    let hankNode = ginaNode
    for (let i = 0; i < 4 && hankNode === ginaNode; i++) {
      before = await wsOpen()
      hank = await connect(`wss://localhost:${proxy.port}/xmpp-websocket`, 'hank', `ws-${i}`)
      hankNode = wsNode(before, await wsOpen())
    }
    t.not(hankNode, ginaNode, `WebSocket: gina on ${ginaNode}, hank on ${hankNode}`)
    const h = hank as StropheClient

    const count = 20
    for (let i = 0; i < count; i++) {
      erin.sendMessage(frank.jid, `erin→frank ${i}`)
      frank.sendMessage(erin.jid, `frank→erin ${i}`)
      gina.sendMessage(h.jid, `gina→hank ${i}`)
      h.sendMessage(gina.jid, `hank→gina ${i}`)
    }
    const expect = (from: string, to: string) => Array.from({ length: count }, (_, i) => `${from}→${to} ${i}`)
    t.same(await frank.waitForBodies(count), expect('erin', 'frank'), 'BOSH → BOSH across nodes, in order')
    t.same(await erin.waitForBodies(count), expect('frank', 'erin'), 'and back')
    t.same(await h.waitForBodies(count), expect('gina', 'hank'), 'WebSocket → WebSocket across nodes, in order')
    t.same(await gina.waitForBodies(count), expect('hank', 'gina'), 'and back')
    erin.sendMessage(h.jid, 'erin→hank over BOSH and WebSocket')
    h.sendMessage(erin.jid, 'hank→erin over WebSocket and BOSH')
    t.same((await h.waitForBodies(count + 1))[count], 'erin→hank over BOSH and WebSocket', 'BOSH → WebSocket')
    t.same((await erin.waitForBodies(count + 1))[count], 'hank→erin over WebSocket and BOSH', 'WebSocket → BOSH')
    await Promise.all(clients.splice(0).map((c) => c.disconnect()))
    await assertNoMisrouting(t, 'Strophe’s BOSH requests (two at a time, over a keep-alive pool)')
  })

  await t.test('health checks: a draining node gets no new sessions and keeps its open ones', async (t) => {
    const draining = node(DRAINING)
    const survivor = kept.get(DRAINING) as RawSession
    const drainRefusals = async () => metricValue(await draining.metrics(), 'causeway_refusals_total{transport="bosh",reason="draining"}')
    const refusedBefore = await drainRefusals()
    t.ok(draining.signal('SIGTERM'), `SIGTERM to ${DRAINING} (shutdownDrainMs ${DRAIN_MS})`)
    await until(async () => (await draining.readyStatus()) === 503, `${DRAINING} /readyz 503`, 5000)
    t.pass('/readyz answers 503 at once')
    const statusAtStart = (await proxy.serverStatus()).get(DRAINING) ?? ''

    // Before the health check notices, leastconn still picks the node: its 503 is retried on another one.
    const early = await Promise.all(Array.from({ length: 6 }, () => RawSession.create(bosh)))
    const earlyCounts = countLabels(early.map((s) => s.sid))
    t.equal(earlyCounts[DRAINING], 0, `no new session on ${DRAINING} while HAProxy still had it ${statusAtStart} (${JSON.stringify(earlyCounts)})`)
    const retried = (await drainRefusals()) - refusedBefore
    t.comment(`${DRAINING} refused ${retried} creation(s) with 503; HAProxy retried them elsewhere`)
    if (statusAtStart.startsWith('UP')) t.ok(retried >= 1, 'the retry path was exercised (the refusals never reached the client)')
    await Promise.all(early.map((s) => s.terminate()))

    await until(async () => ((await proxy.serverStatus()).get(DRAINING) ?? '').startsWith('DOWN'), `HAProxy to mark ${DRAINING} DOWN`, 15_000)
    t.pass(`HAProxy marked ${DRAINING} DOWN from /readyz`)

    const before = await sample(nodes, STANZAS_UP)
    await survivor.request(ping('while-draining'))
    await survivor.take(isIq('while-draining'), 'ping result while draining')
    t.same(delta(await sample(nodes, STANZAS_UP), before), only(DRAINING, 1), `the open session on ${DRAINING} still reaches it while it is DOWN (option persist)`)

    const refusedNow = await drainRefusals()
    const late = await Promise.all(Array.from({ length: 6 }, () => RawSession.create(bosh)))
    t.equal(countLabels(late.map((s) => s.sid))[DRAINING], 0, 'new BOSH sessions go to the other nodes')
    t.equal(await drainRefusals(), refusedNow, `and HAProxy no longer even tries ${DRAINING}`)
    await Promise.all(late.map((s) => s.terminate()))

    const wsBefore = await sample(nodes, 'causeway_sessions_total{transport="websocket"}')
    const sockets = await Promise.all(
      Array.from({ length: 4 }, () => rawClient(`wss://localhost:${proxy.port}/xmpp-websocket`, ['xmpp'], { ca, localAddress: CLIENT_ADDRESS, family: 4 })),
    )
    const wsAfter = delta(await sample(nodes, 'causeway_sessions_total{transport="websocket"}'), wsBefore)
    for (const socket of sockets) socket.socket.close(1000)
    t.equal(wsAfter[DRAINING], 0, `new WebSockets too (${JSON.stringify(wsAfter)})`)
    await survivor.terminate()
    await assertNoMisrouting(t, 'while draining')
  })

  await t.test('a node that dies: its sessions get item-not-found from another node, new sessions go elsewhere', async (t) => {
    const dead = node(CRASHING)
    let victim: RawSession | undefined
    const spare: RawSession[] = []
    for (let i = 0; i < 6 && victim === undefined; i++) {
      const session = await RawSession.create(bosh)
      if (session.label === CRASHING) victim = session
      else spare.push(session)
    }
    await Promise.all(spare.map((s) => s.terminate()))
    if (victim === undefined) throw new Error(`no session landed on ${CRASHING}`)
    t.ok(dead.signal('SIGKILL'), `SIGKILL to ${CRASHING}, as a crash would`)
    await dead.stop() // only waits for the exit and cleans up: the process is already gone

    const survivors = nodes.filter((n) => n.label !== CRASHING)
    const before = await sample(survivors, UNKNOWN_SID)
    const started = Date.now()
    const answer = await victim.requestAnswer()
    const took = Date.now() - started
    const body = bodyOf(answer)
    t.equal(body.attrs.condition, 'item-not-found', `the session’s next request: item-not-found, not a proxy error (after ${took} ms)`)
    t.ok(took < 5000, 'within the retry turn-around, not a timeout')
    const refused = delta(await sample(survivors, UNKNOWN_SID), before)
    t.equal(total(refused), 1, `answered by a surviving node (${JSON.stringify(refused)})`)

    const fresh = await Promise.all(Array.from({ length: 4 }, () => RawSession.create(bosh)))
    t.ok(
      fresh.every((s) => s.label !== CRASHING && s.label !== DRAINING),
      `new sessions are created on the live nodes only (${fresh.map((s) => s.label).join(', ')})`,
    )
    await Promise.all(fresh.map((s) => s.terminate()))
    await until(async () => ((await proxy.serverStatus()).get(CRASHING) ?? '').startsWith('DOWN'), `HAProxy to mark ${CRASHING} DOWN`, 15_000)
    t.pass(`HAProxy marked ${CRASHING} DOWN`)
  })

  for (const session of kept.values()) await session.terminate()
})
