/**
 * Causeway behind the reverse-proxy configs it ships (docs/deploy/haproxy.cfg
 * and docs/deploy/nginx.conf), run as they are by the real Debian HAProxy and
 * nginx, terminating TLS with a test CA, in front of a real Prosody.
 *
 * Every client connects to the proxy from an address of its own on 127/8
 * (Linux routes all of it to lo), while the proxy reaches Causeway from
 * 127.0.0.1, the one trusted proxy. So Causeway's logs and its per-address
 * session limit show whether it believed the right hop: the client address
 * the proxy reports, never the proxy's own, and never an address a client
 * wrote into a forwarding header itself.
 */
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomInt } from 'node:crypto'
import t from 'tap'
import { Element, parse as parseXml } from 'ltx'
import { OPTIONS } from '../../src/config/options.js'
import { startCauseway } from '../helpers/causeway.js'
import type { RunningCauseway } from '../helpers/causeway.js'
import { startShippedHaproxy, SHIPPED_HAPROXY_CFG } from '../helpers/haproxy.js'
import type { ShippedProxyOptions } from '../helpers/haproxy.js'
import type { RunningDaemon } from '../helpers/daemon.js'
import { startShippedNginx, SHIPPED_NGINX_CONF } from '../helpers/nginx.js'
import { startProsody } from '../helpers/prosody.js'
import { makeTlsFixtures } from '../helpers/tls.js'
import { Waiters } from '../helpers/wait.js'
import { CLOSE, OPEN, rawClient } from '../helpers/ws-client.js'
import type { RawClient } from '../helpers/ws-client.js'
import { NS } from '../../src/core/conditions.js'

const SHIPPED_UNIT = fileURLToPath(new URL('../../docs/deploy/causeway.service', import.meta.url))
const ALICE = { username: 'alice', password: 'alice-secret-1' }
const BOB = { username: 'bob', password: 'bob-secret-2' }
const CAROL = { username: 'carol', password: 'carol-secret-3' }
type User = typeof ALICE

const FORGED = '203.0.113.9'
/** What a client may write to pass itself off as someone else. */
const FORGED_HEADERS = { 'X-Forwarded-For': FORGED, Forwarded: `for=${FORGED};proto=https`, 'X-Forwarded-Proto': 'https' }

// ───────────────────────── a minimal XMPP client over WebSocket or BOSH ─────────────────────────
// Raw, because @xmpp/client cannot bind a connection to a chosen source
// address: login is SASL PLAIN and resource binding, nothing more.

interface Connect {
  /** https://localhost:PORT or http://127.0.0.1:PORT */
  readonly base: string
  /** Source address of the client's connections. */
  readonly localAddress: string
  readonly ca?: Buffer
  readonly headers?: Record<string, string>
}

/** Elements as they arrive; take() removes the first one that matches, so unrelated stanzas (presence echoes) never get in the way. */
class Inbox {
  readonly #elements: Element[] = []
  readonly #waiters = new Waiters()
  #ended: string | undefined

  push(element: Element): void {
    this.#elements.push(element)
    this.#waiters.wake()
  }

  end(why: string): void {
    this.#ended ??= why
    this.#waiters.wake()
  }

  take(match: (element: Element) => boolean, what: string, timeoutMs = 10_000): Promise<Element> {
    return this.#waiters.until(
      () => {
        const index = this.#elements.findIndex(match)
        if (index >= 0) return this.#elements.splice(index, 1)[0]
        if (this.#ended !== undefined) throw new Error(`${this.#ended} while waiting for ${what}`)
        return undefined
      },
      timeoutMs,
      () => `${what}; have ${this.#elements.map((e) => e.toString()).join(' ') || 'nothing'}`,
    )
  }
}

interface XmppStream {
  readonly inbox: Inbox
  /** Open (or, after SASL, restart) the XML stream. */
  open(): void
  send(xml: string): void
  close(): Promise<void>
}

class WebSocketStream implements XmppStream {
  readonly inbox = new Inbox()
  #read = 0

  constructor(readonly raw: RawClient) {
    const drain = () => {
      for (; this.#read < raw.messages.length; this.#read++) {
        const element = parseXml(raw.messages[this.#read] ?? '')
        // RFC 7395 framing: <open/> answers ours, <close/> ends the stream.
        if (element.is('open', 'urn:ietf:params:xml:ns:xmpp-framing')) continue
        if (element.is('close', 'urn:ietf:params:xml:ns:xmpp-framing')) this.inbox.end('the server closed the stream')
        else this.inbox.push(element)
      }
    }
    raw.socket.on('message', () => queueMicrotask(drain))
    void raw.closed.then(({ code }) => this.inbox.end(`WebSocket closed (${code})`))
    drain()
  }

  /** Rejects with the HTTP status (`statusCode`) when the upgrade is refused. */
  static async connect(options: Connect): Promise<WebSocketStream> {
    const url = options.base.replace(/^http/, 'ws') + '/xmpp-websocket'
    const raw = await rawClient(url, ['xmpp'], {
      localAddress: options.localAddress,
      // `localhost` is the name in the test certificate; family 4 keeps it on 127.0.0.1 (our source is IPv4).
      family: 4,
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.headers ? { headers: options.headers } : {}),
    })
    return new WebSocketStream(raw)
  }

  open(): void {
    this.raw.send(OPEN())
  }

  send(xml: string): void {
    this.raw.send(xml)
  }

  async close(): Promise<void> {
    if (this.raw.socket.readyState === this.raw.socket.OPEN) {
      this.raw.send(CLOSE)
      await Promise.race([this.raw.waitForMatch(/^<close /, 3000).catch(() => {}), this.raw.closed])
      this.raw.socket.close(1000)
    }
    await this.raw.closed
  }
}

interface HttpAnswer {
  readonly status: number
  readonly text: string
}

/**
 * XEP-0124/0206 with hold=1, requests=2: one request is always left with the
 * connection manager so it can push stanzas; outgoing stanzas go in a second
 * one. Responses are handled in rid order.
 */
class BoshStream implements XmppStream {
  readonly inbox = new Inbox()
  readonly #url: URL
  readonly #agent: https.Agent | http.Agent
  readonly #headers: Record<string, string>
  #rid = randomInt(1, 2 ** 32) * 1024
  #sid: string | undefined
  #inFlight = 0
  #queue: string[] = []
  #restart = false
  #ended = false
  #next = 0
  #opened = false
  readonly #arrived = new Map<number, HttpAnswer>()

  constructor(options: Connect) {
    this.#url = new URL(options.base + '/http-bind')
    const agentOptions = { keepAlive: true, maxSockets: 3, localAddress: options.localAddress, family: 4 }
    this.#agent =
      this.#url.protocol === 'https:'
        ? new https.Agent({ ...agentOptions, ...(options.ca ? { ca: options.ca } : {}) })
        : new http.Agent(agentOptions)
    this.#headers = options.headers ?? {}
  }

  /** The session creation request; resolves with the answer (a session, or a refusal). */
  async create(): Promise<{ status: number; body: Element }> {
    const rid = this.#rid
    const answer = await this.#request(
      `<body content='text/xml; charset=utf-8' hold='1' rid='${rid}' to='localhost' ver='1.11' wait='30' ` +
        `xml:lang='en' xmpp:version='1.0' xmlns='${NS.httpbind}' xmlns:xmpp='urn:xmpp:xbosh'/>`,
    )
    const body = parseXml(answer.text)
    if (answer.status === 200 && body.attrs.type !== 'terminate' && typeof body.attrs.sid === 'string') {
      this.#sid = body.attrs.sid
      this.#next = rid + 1
      this.#deliver(body)
      this.#pump()
    }
    return { status: answer.status, body }
  }

  open(): void {
    if (this.#sid === undefined) throw new Error('BOSH: no session to log in to (creation refused or not attempted)')
    // The creation request opened the stream; later calls are XEP-0206 restarts.
    if (!this.#opened) {
      this.#opened = true
      return
    }
    this.#restart = true
    this.#pump()
  }

  send(xml: string): void {
    this.#queue.push(xml)
    queueMicrotask(() => this.#pump())
  }

  async close(): Promise<void> {
    if (this.#ended || this.#sid === undefined) return this.#shutdown()
    this.#ended = true
    // XEP-0124 §11 allows one request beyond `requests` for a terminate.
    await this.#request(
      `<body rid='${++this.#rid}' sid='${this.#sid}' type='terminate' xmlns='${NS.httpbind}'><presence type='unavailable' xmlns='jabber:client'/></body>`,
    ).catch(() => {})
    this.#shutdown()
  }

  #shutdown(): void {
    this.#ended = true
    this.#agent.destroy()
    this.inbox.end('BOSH session closed')
  }

  #pump(): void {
    const sid = this.#sid
    if (sid === undefined || this.#ended) return
    if (this.#restart && this.#queue.length === 0 && this.#inFlight < 2) {
      this.#restart = false
      this.#post(
        `<body rid='${++this.#rid}' sid='${sid}' to='localhost' xml:lang='en' xmpp:restart='true' xmlns='${NS.httpbind}' xmlns:xmpp='urn:xmpp:xbosh'/>`,
      )
    }
    if (this.#queue.length > 0 && this.#inFlight < 2) {
      this.#post(`<body rid='${++this.#rid}' sid='${sid}' xmlns='${NS.httpbind}'>${this.#queue.splice(0).join('')}</body>`)
    }
    if (this.#inFlight === 0) this.#post(`<body rid='${++this.#rid}' sid='${sid}' xmlns='${NS.httpbind}'/>`)
  }

  #post(body: string): void {
    const rid = this.#rid
    this.#inFlight++
    this.#request(body).then(
      (answer) => {
        this.#arrived.set(rid, answer)
        for (let next = this.#arrived.get(this.#next); next !== undefined && !this.#ended; next = this.#arrived.get(this.#next)) {
          this.#arrived.delete(this.#next++)
          this.#inFlight--
          if (next.status !== 200) {
            this.inbox.end(`BOSH request answered HTTP ${next.status}`)
            return
          }
          const element = parseXml(next.text)
          this.#deliver(element)
          if (element.attrs.type === 'terminate') {
            this.inbox.end(`BOSH session terminated (${String(element.attrs.condition)})`)
            this.#shutdown()
            return
          }
          this.#pump()
        }
      },
      (error: Error) => this.inbox.end(`BOSH request failed: ${error.message}`),
    )
  }

  #deliver(body: Element): void {
    for (const child of body.getChildElements()) this.inbox.push(child)
  }

  #request(body: string): Promise<HttpAnswer> {
    const payload = Buffer.from(body)
    const client = this.#url.protocol === 'https:' ? https : http
    return new Promise((resolve, reject) => {
      const request = client.request(
        this.#url,
        {
          method: 'POST',
          agent: this.#agent,
          headers: { ...this.#headers, 'Content-Type': 'text/xml; charset=utf-8', 'Content-Length': payload.length },
        },
        (response) => {
          const chunks: Buffer[] = []
          response.on('data', (chunk: Buffer) => chunks.push(chunk))
          response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
          response.on('error', reject)
        },
      )
      request.setTimeout(45_000, () => request.destroy(new Error('no HTTP response within 45 s')))
      request.on('error', reject)
      request.end(payload)
    })
  }
}

/** SASL PLAIN, stream restart, resource binding, initial presence; resolves with the bound JID. */
async function login(stream: XmppStream, user: User, resource: string): Promise<string> {
  stream.open()
  const features = await stream.inbox.take((e) => e.is('features', NS.stream), 'stream features')
  const mechanisms =
    features
      .getChild('mechanisms', NS.sasl)
      ?.getChildren('mechanism')
      .map((m) => m.getText()) ?? []
  if (!mechanisms.includes('PLAIN')) throw new Error(`no SASL PLAIN offered: ${features.toString()}`)
  stream.send(`<auth xmlns='${NS.sasl}' mechanism='PLAIN'>${Buffer.from(`\0${user.username}\0${user.password}`).toString('base64')}</auth>`)
  const outcome = await stream.inbox.take((e) => e.getNS() === NS.sasl, 'SASL outcome')
  if (!outcome.is('success')) throw new Error(`SASL failed: ${outcome.toString()}`)
  stream.open()
  await stream.inbox.take((e) => e.is('features', NS.stream) && e.getChild('bind', NS.bind) !== undefined, 'features with bind')
  stream.send(`<iq type='set' id='bind1' xmlns='jabber:client'><bind xmlns='${NS.bind}'><resource>${resource}</resource></bind></iq>`)
  const bound = await stream.inbox.take((e) => e.is('iq') && e.attrs.id === 'bind1', 'bind result')
  const jid = bound.getChild('bind', NS.bind)?.getChildText('jid')
  if (bound.attrs.type !== 'result' || !jid) throw new Error(`bind failed: ${bound.toString()}`)
  stream.send(`<presence xmlns='jabber:client'/>`)
  return jid
}

const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;')

function sendChat(stream: XmppStream, to: string, body: string, id: string): void {
  stream.send(`<message xmlns='jabber:client' to='${to}' type='chat' id='${id}'><body>${escapeXml(body)}</body></message>`)
}

const takeChat = (stream: XmppStream, id: string) => stream.inbox.take((e) => e.is('message') && e.attrs.id === id, `message ${id}`)

// ───────────────────────── what Causeway logged ─────────────────────────

/** The `remote` of every per-session log line (those carrying sid and transport), per transport, sorted and unique. */
function sessionRemotes(cw: RunningCauseway): { websocket: string[]; bosh: string[] } {
  const of = (transport: string) =>
    [
      ...new Set(
        cw
          .logLines()
          .filter((l) => typeof l.sid === 'string' && l.transport === transport)
          .map((l) => String(l.remote)),
      ),
    ].sort()
  return { websocket: of('websocket'), bosh: of('bosh') }
}

/** One GET from `localAddress`; the body as text. */
function fetchText(url: string, options: { localAddress: string; ca?: Buffer; headers?: Record<string, string> }): Promise<HttpAnswer> {
  const client = url.startsWith('https:') ? https : http
  return new Promise((resolve, reject) => {
    const request = client.get(
      url,
      {
        localAddress: options.localAddress,
        family: 4,
        agent: false,
        ...(options.ca ? { ca: options.ca } : {}),
        headers: options.headers ?? {},
      },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
        response.on('error', reject)
      },
    )
    request.on('error', reject)
  })
}

async function refusedUpgrade(options: Connect): Promise<number | undefined> {
  try {
    const stream = await WebSocketStream.connect(options)
    await stream.close()
    return undefined
  } catch (error) {
    return (error as { statusCode?: number }).statusCode
  }
}

// ───────────────────────── the shipped configs ─────────────────────────

/** `90s`, `1h`, `5000` (ms, HAProxy's default unit) → milliseconds. */
function durationMs(value: string): number {
  const match = /^(\d+)(ms|s|m|h)?$/.exec(value)
  if (!match) throw new Error(`not a duration: ${value}`)
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 'ms'] ?? 1
  return Number(match[1]) * unit
}

t.test('the shipped deploy files fit Causeway’s defaults', async (t) => {
  const boshWait = OPTIONS.boshMaxWaitMs.default
  const ping = OPTIONS.wsPingIntervalMs.default
  t.equal(boshWait, 60_000, 'BOSH requests are held for up to 60 s by default')
  t.equal(ping, 30_000, 'WebSocket pings go out every 30 s by default')

  const haproxy = await readFile(SHIPPED_HAPROXY_CFG, 'utf8')
  const timeout = (name: string) => {
    const found = [...haproxy.matchAll(new RegExp(`^\\s*timeout ${name} (\\S+)`, 'gm'))].map((m) => durationMs(m[1] ?? ''))
    t.equal(found.length, 1, `haproxy.cfg sets timeout ${name} once`)
    return found[0] ?? 0
  }
  t.ok(timeout('client') > boshWait, 'HAProxy timeout client > BOSH wait')
  t.ok(timeout('server') > boshWait, 'HAProxy timeout server > BOSH wait')
  t.ok(timeout('http-keep-alive') > boshWait, 'HAProxy keeps an idle BOSH connection longer than a wait')
  t.ok(timeout('tunnel') > ping, 'HAProxy timeout tunnel (WebSocket) > ping interval')
  t.match(haproxy, /^\s*option forwardfor\s*$/m, 'HAProxy appends the client address to X-Forwarded-For')

  const nginx = await readFile(SHIPPED_NGINX_CONF, 'utf8')
  const location = (head: string) => {
    const start = nginx.indexOf(`location ${head} {`)
    t.not(start, -1, `nginx.conf has location ${head}`)
    const block = nginx.slice(start, nginx.indexOf('}', start))
    const value = (directive: string) => durationMs(new RegExp(`${directive} (\\S+);`).exec(block)?.[1] ?? '0')
    return { read: value('proxy_read_timeout'), send: value('proxy_send_timeout') }
  }
  const bosh = location('~ ^/http-bind/?$')
  t.ok(bosh.read > boshWait && bosh.send > boshWait, 'nginx BOSH read/send timeouts > BOSH wait')
  const websocket = location('= /xmpp-websocket')
  t.ok(websocket.read > ping && websocket.send > ping, 'nginx WebSocket read/send timeouts > ping interval')
  t.match(nginx, /^\s*proxy_buffering off;/m, 'nginx hands BOSH responses over unbuffered')
  t.match(nginx, /^\s*proxy_set_header X-Forwarded-For \$remote_addr;/m, 'nginx replaces X-Forwarded-For with the peer address')

  const unit = await readFile(SHIPPED_UNIT, 'utf8')
  const setting = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(unit)?.[1]
  const maxSessions = OPTIONS.maxSessions.default
  t.ok(
    Number(setting('LimitNOFILE')) >= 3 * maxSessions,
    `LimitNOFILE (${setting('LimitNOFILE')}) covers maxSessions (${maxSessions}) at up to 3 fds each`,
  )
  t.equal(setting('ExecReload'), '/bin/kill -HUP $MAINPID', 'systemctl reload sends SIGHUP (TLS certificate reload)')
  const stopBudget = OPTIONS.shutdownDrainMs.default + OPTIONS.shutdownTimeoutMs.default
  t.ok(durationMs(setting('TimeoutStopSec') ?? '0') > stopBudget, 'systemd waits longer than Causeway’s own shutdown takes')
  const lines = unit.split('\n')
  for (const hardening of ['DynamicUser=yes', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'CapabilityBoundingSet=']) {
    t.ok(lines.includes(hardening), `the unit is sandboxed: ${hardening}`)
  }
})

t.test('reverse proxies in front of Causeway', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'causeway-reverse-proxy-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const certs = await makeTlsFixtures(dir, 'localhost')
  const ca = await readFile(certs.ca.caCertPath)
  const prosody = await startProsody({ users: [ALICE, BOB, CAROL] })
  t.teardown(() => prosody.stop())

  const proxies: Array<{
    name: string
    start: (options: ShippedProxyOptions) => Promise<RunningDaemon>
    forwardedFor: (client: string) => string
  }> = [
    // option forwardfor appends a header line of its own; Node joins repeated headers with ", ".
    { name: 'HAProxy', start: startShippedHaproxy, forwardedFor: (client) => `${FORGED}, ${client}` },
    // X-Forwarded-For $remote_addr: the client's header is replaced.
    { name: 'nginx', start: startShippedNginx, forwardedFor: (client) => client },
  ]

  for (const proxy of proxies) {
    t.test(`${proxy.name} with the shipped config`, async (t) => {
      t.test('passes on the client address and scheme, and nothing a client forged', async (t) => {
        // A stand-in for Causeway that records what the proxy sends it.
        const seen: Array<{ url: string; headers: http.IncomingHttpHeaders }> = []
        const recorder = http.createServer((request, response) => {
          // HAProxy's own health checks (GET /readyz, not from a client: no X-Forwarded-Proto) are not what this test is about.
          const healthCheck = request.url === '/readyz' && request.headers['x-forwarded-proto'] === undefined
          if (!healthCheck) seen.push({ url: request.url ?? '', headers: request.headers })
          response.end('ok')
        })
        recorder.listen(0, '127.0.0.1')
        await once(recorder, 'listening')
        t.teardown(() => recorder.close())
        const px = await proxy.start({ backendPort: (recorder.address() as AddressInfo).port, cert: certs.good })
        t.teardown(() => px.stop())

        const get = (path: string) =>
          new Promise<number>((resolve, reject) => {
            const request = https.request(
              {
                host: 'localhost',
                family: 4,
                port: px.port,
                path,
                method: 'POST',
                ca,
                localAddress: '127.0.0.2',
                agent: false,
                headers: FORGED_HEADERS,
              },
              (response) => {
                response.resume()
                response.on('end', () => resolve(response.statusCode ?? 0))
              },
            )
            request.on('error', reject)
            request.end('<body/>')
          })
        const statuses = async (paths: string[]) => {
          const found: number[] = []
          for (const path of paths) found.push(await get(path))
          return found
        }
        t.same(
          await statuses(['/http-bind', '/http-bind/', '/xmpp-websocket', '/.well-known/host-meta']),
          [200, 200, 200, 200],
          'the client endpoints are forwarded',
        )
        t.same(await statuses(['/metrics', '/healthz', '/readyz', '/']), [404, 404, 404, 404], 'metrics and health endpoints stay private')
        t.same(
          seen.map((s) => s.url),
          ['/http-bind', '/http-bind/', '/xmpp-websocket', '/.well-known/host-meta'],
          'only the public endpoints reached the backend',
        )
        for (const { url, headers } of seen) {
          t.equal(headers['x-forwarded-for'], proxy.forwardedFor('127.0.0.2'), `${url}: X-Forwarded-For ends with the real client address`)
          t.equal(headers['x-forwarded-proto'], 'https', `${url}: X-Forwarded-Proto is the proxy's word, https`)
          t.equal(headers.forwarded, undefined, `${url}: the client's Forwarded header is dropped`)
        }
      })

      const cw = await startCauseway({
        upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`],
        trustedProxy: ['127.0.0.1/32'],
        maxSessionsPerIp: 1,
      })
      t.teardown(() => cw.stop())
      const px = await proxy.start({ backendPort: cw.port, cert: certs.good })
      t.teardown(() => px.stop())
      const via = (localAddress: string, headers?: Record<string, string>): Connect => ({
        base: `https://localhost:${px.port}`,
        localAddress,
        ca,
        ...(headers ? { headers } : {}),
      })
      const open: XmppStream[] = []
      t.teardown(async () => {
        for (const stream of open) await stream.close().catch(() => {})
      })

      let alice: WebSocketStream | undefined
      let bob: BoshStream | undefined
      let aliceJid = ''
      let bobJid = ''

      t.test('a WebSocket client and a BOSH client log in through it and exchange messages', async (t) => {
        alice = await WebSocketStream.connect(via('127.0.0.2'))
        open.push(alice)
        aliceJid = await login(alice, ALICE, 'wss')
        t.equal(aliceJid, 'alice@localhost/wss', 'alice logged in over wss:// through the proxy')

        bob = new BoshStream(via('127.0.0.3'))
        open.push(bob)
        const created = await bob.create()
        t.equal(created.status, 200)
        t.type(created.body.attrs.sid, 'string', 'BOSH session created through the proxy')
        bobJid = await login(bob, BOB, 'https')
        t.equal(bobJid, 'bob@localhost/https', 'bob logged in over BOSH through the proxy')

        const toBob = `hello bob <&> 😀 via ${proxy.name}`
        sendChat(alice, bobJid, toBob, 'a1')
        const atBob = await takeChat(bob, 'a1')
        t.equal(atBob.getChildText('body'), toBob, 'bob got alice’s body exactly')
        t.equal(atBob.attrs.from, aliceJid, 'from alice’s full JID')

        const toAlice = `hello alice "ünïcode" via ${proxy.name}`
        sendChat(bob, aliceJid, toAlice, 'b1')
        const atAlice = await takeChat(alice, 'b1')
        t.equal(atAlice.getChildText('body'), toAlice, 'alice got bob’s body exactly')
        t.equal(atAlice.attrs.from, bobJid, 'from bob’s full JID')

        for (let i = 0; i < 20; i++) sendChat(alice, bobJid, `burst ${i}`, `burst${i}`)
        const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => takeChat(bob!, `burst${i}`)))
        t.same(
          burst.map((m) => m.getChildText('body')),
          Array.from({ length: 20 }, (_, i) => `burst ${i}`),
          'a burst of 20 messages arrives over BOSH complete',
        )
      })

      t.test('Causeway logs each session with the client address, not the proxy’s', async (t) => {
        t.same(sessionRemotes(cw), { websocket: ['127.0.0.2'], bosh: ['127.0.0.3'] }, 'remote is the address the client connected from')
        t.notOk(
          cw.logLines().some((l) => l.remote === '127.0.0.1'),
          'no session was attributed to the proxy (127.0.0.1), though every connection to Causeway came from it',
        )
      })

      t.test('maxSessionsPerIp counts client addresses, not the proxy', async (t) => {
        // alice (127.0.0.2) and bob (127.0.0.3) came through the same proxy and both were admitted;
        // one more from either address is over the limit of 1.
        t.equal(await refusedUpgrade(via('127.0.0.2')), 429, 'a second WebSocket from 127.0.0.2 is refused with 429')
        const second = new BoshStream(via('127.0.0.3'))
        const refused = await second.create()
        await second.close()
        t.equal(refused.status, 200, 'BOSH refuses in the body (XEP-0124 §17)')
        t.same(
          { type: refused.body.attrs.type, condition: refused.body.attrs.condition, sid: refused.body.attrs.sid },
          { type: 'terminate', condition: 'policy-violation', sid: undefined },
          'a second BOSH session from 127.0.0.3 is refused with policy-violation',
        )
        const crossTransport = new BoshStream(via('127.0.0.2'))
        const alsoRefused = await crossTransport.create()
        await crossTransport.close()
        t.equal(
          alsoRefused.body.attrs.condition,
          'policy-violation',
          'the limit spans transports: BOSH from alice’s address is refused too',
        )

        const carol = await WebSocketStream.connect(via('127.0.0.5'))
        open.push(carol)
        t.equal(await login(carol, CAROL, 'third'), 'carol@localhost/third', 'a session from 127.0.0.5 through the same proxy is admitted')
        await carol.close()
        t.same(sessionRemotes(cw), { websocket: ['127.0.0.2', '127.0.0.5'], bosh: ['127.0.0.3'] }, 'and logged as 127.0.0.5')
      })

      t.test('discovery links carry the scheme the client used at the proxy', async (t) => {
        const { status, text } = await fetchText(`https://localhost:${px.port}/.well-known/host-meta.json`, {
          localAddress: '127.0.0.8',
          ca,
        })
        t.equal(status, 200)
        const links = (JSON.parse(text) as { links: Array<{ rel: string; href: string }> }).links.map((l) => l.href)
        t.equal(links.length, 2)
        t.match(
          links[0],
          /^https:\/\/localhost(:\d+)?\/http-bind$/,
          'BOSH over https:// (X-Forwarded-Proto from the proxy), though Causeway itself speaks http',
        )
        t.match(links[1], /^wss:\/\/localhost(:\d+)?\/xmpp-websocket$/, 'WebSocket over wss://')
      })

      t.test('a client’s own X-Forwarded-For or Forwarded header changes nothing', async (t) => {
        t.equal(await refusedUpgrade(via('127.0.0.2', FORGED_HEADERS)), 429, `claiming to be ${FORGED} does not get 127.0.0.2 a fresh slot`)

        const forger = await WebSocketStream.connect(via('127.0.0.6', FORGED_HEADERS))
        open.push(forger)
        t.equal(await login(forger, CAROL, 'forger'), 'carol@localhost/forger')
        sendChat(forger, aliceJid, 'still me', 'f1')
        t.equal((await takeChat(alice!, 'f1')).getChildText('body'), 'still me', 'the session works normally')
        await forger.close()
        t.same(
          sessionRemotes(cw),
          { websocket: ['127.0.0.2', '127.0.0.5', '127.0.0.6'], bosh: ['127.0.0.3'] },
          'it is logged with its real address',
        )

        const forgedBosh = new BoshStream(via('127.0.0.7', FORGED_HEADERS))
        open.push(forgedBosh)
        t.type((await forgedBosh.create()).body.attrs.sid, 'string')
        t.equal(await login(forgedBosh, CAROL, 'forger2'), 'carol@localhost/forger2')
        await forgedBosh.close()
        t.same(sessionRemotes(cw).bosh, ['127.0.0.3', '127.0.0.7'], 'over BOSH too')
        t.notOk(cw.logText().includes(FORGED), `${FORGED} appears nowhere in Causeway's logs`)
      })
    })
  }
})

t.test('forwarding headers from a peer that is not a trusted proxy are ignored', async (t) => {
  const prosody = await startProsody({ users: [ALICE, BOB] })
  t.teardown(() => prosody.stop())
  const cw = await startCauseway({
    upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`],
    trustedProxy: ['127.0.0.1/32'],
    maxSessionsPerIp: 1,
  })
  t.teardown(() => cw.stop())
  const direct = (headers: Record<string, string>): Connect => ({ base: `http://127.0.0.1:${cw.port}`, localAddress: '127.0.0.4', headers })

  const ws = await WebSocketStream.connect(direct(FORGED_HEADERS))
  t.teardown(() => ws.close())
  t.equal(await login(ws, ALICE, 'direct'), 'alice@localhost/direct')
  t.same(sessionRemotes(cw), { websocket: ['127.0.0.4'], bosh: [] }, 'the WebSocket session is logged with the TCP peer, 127.0.0.4')
  t.equal(
    await refusedUpgrade(direct({ 'X-Forwarded-For': '203.0.113.10', Forwarded: 'for=203.0.113.10' })),
    429,
    'a second session from 127.0.0.4 is over the limit, whatever address its headers claim',
  )
  const bosh = new BoshStream(direct({ 'X-Forwarded-For': '203.0.113.11', Forwarded: 'for=203.0.113.11' }))
  const refused = await bosh.create()
  await bosh.close()
  t.equal(refused.body.attrs.condition, 'policy-violation', 'over BOSH as well')
  t.notOk(/203\.0\.113\./.test(cw.logText()), 'no forged address appears in the logs')

  const { text } = await fetchText(`http://127.0.0.1:${cw.port}/.well-known/host-meta.json`, {
    localAddress: '127.0.0.4',
    headers: FORGED_HEADERS,
  })
  t.match(
    text,
    /"http:\/\/127\.0\.0\.1:\d+\/http-bind"/,
    'a forged X-Forwarded-Proto: https does not turn the discovery links into https://',
  )
})
