/**
 * upstreamProxyProtocol: with 'v1' or 'v2' Causeway starts every upstream
 * connection with a PROXY protocol header (HAProxy's spec) whose source is
 * the client as Causeway saw it and whose destination is the Causeway
 * listener the client reached. Checked on the wire (a relay records the
 * first bytes Causeway sends upstream) and end to end: ejabberd's
 * `use_proxy_protocol` listener must report the client's own address for the
 * session, for WebSocket and BOSH clients bound to 127.0.0.7.
 */
import t from 'tap'
import { eventually } from '../helpers/wait.js'
import http from 'node:http'
import net from 'node:net'
import { WebSocket } from 'ws'
import { startEjabberd } from '../helpers/ejabberd.js'
import type { EjabberdSession, RunningEjabberd } from '../helpers/ejabberd.js'
import { ConfigError, loadConfig, makeConfig } from '../../src/config/index.js'
import { startCauseway } from '../helpers/causeway.js'
import type { RunningCauseway } from '../helpers/causeway.js'
import type { ProxyProtocolVersion } from '../../src/net/proxy-protocol.js'

const ALICE = { username: 'alice', password: 'alice-pw-1' }
const BOB = { username: 'bob', password: 'bob-pw-2' }
/** A loopback address other than 127.0.0.1, so the client is distinguishable from Causeway itself. */
const CLIENT_IP = '127.0.0.7'
const STEP_TIMEOUT_MS = 15_000

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')


// ---------------------------------------------------------------------------
// A TCP relay in front of ejabberd that records what Causeway sends upstream.

interface RelayedConnection {
  /** Every byte Causeway sent on this upstream connection so far. */
  received(): Buffer
}

interface Relay {
  readonly port: number
  readonly connections: RelayedConnection[]
  close(): Promise<void>
}

async function startRelay(targetPort: number): Promise<Relay> {
  const connections: RelayedConnection[] = []
  const sockets = new Set<net.Socket>()
  const server = net.createServer((inbound) => {
    const chunks: Buffer[] = []
    connections.push({ received: () => Buffer.concat(chunks) })
    const outbound = net.connect({ host: '127.0.0.1', port: targetPort })
    for (const socket of [inbound, outbound]) {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => {})
    }
    inbound.on('data', (chunk: Buffer) => chunks.push(chunk))
    inbound.pipe(outbound)
    outbound.pipe(inbound)
    inbound.on('close', () => outbound.destroy())
    outbound.on('close', () => inbound.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** The bytes before Causeway's XML stream header: the PROXY header, if any. */
async function preamble(connection: RelayedConnection): Promise<Buffer> {
  const bytes = await eventually('the stream header upstream', () => {
    const received = connection.received()
    return received.includes('<?xml') || received.includes('<stream:stream') ? received : undefined
  })
  const xmlStart = [bytes.indexOf('<?xml'), bytes.indexOf('<stream:stream')].filter((i) => i >= 0)
  return bytes.subarray(0, Math.min(...xmlStart))
}

// ---------------------------------------------------------------------------
// The header we expect, written out from the spec (not from Causeway's code).

interface Endpoints {
  readonly sourceAddress: string
  readonly sourcePort: number
  readonly destinationAddress: string
  readonly destinationPort: number
}

function expectedV1(e: Endpoints): Buffer {
  const family = net.isIPv6(e.sourceAddress) ? 'TCP6' : 'TCP4'
  return Buffer.from(`PROXY ${family} ${e.sourceAddress} ${e.destinationAddress} ${e.sourcePort} ${e.destinationPort}\r\n`, 'latin1')
}

function ipv4Bytes(address: string): number[] {
  return address.split('.').map(Number)
}

function ipv6Bytes(address: string): number[] {
  // Enough for the addresses used here (`::1`, `::ffff:a.b.c.d`, full forms).
  const [head = '', tail] = address.split('::')
  const groups = (part: string) => (part === '' ? [] : part.split(':').flatMap((g) => (g.includes('.') ? [(ipv4Bytes(g)[0]! << 8) | ipv4Bytes(g)[1]!, (ipv4Bytes(g)[2]! << 8) | ipv4Bytes(g)[3]!] : [parseInt(g, 16)])))
  const left = groups(head)
  const right = tail === undefined ? [] : groups(tail)
  const all = tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
  return all.flatMap((g) => [g >> 8, g & 0xff])
}

function expectedV2(e: Endpoints): Buffer {
  const v6 = net.isIPv6(e.sourceAddress)
  const addresses = v6 ? [...ipv6Bytes(e.sourceAddress), ...ipv6Bytes(e.destinationAddress)] : [...ipv4Bytes(e.sourceAddress), ...ipv4Bytes(e.destinationAddress)]
  const ports = [e.sourcePort >> 8, e.sourcePort & 0xff, e.destinationPort >> 8, e.destinationPort & 0xff]
  const length = addresses.length + ports.length
  // 0x21: version 2, command PROXY. 0x11: AF_INET + STREAM; 0x21: AF_INET6 + STREAM.
  return Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, v6 ? 0x21 : 0x11, length >> 8, length & 0xff, ...addresses, ...ports])])
}

const expectedHeader = (version: 'v1' | 'v2', e: Endpoints) => (version === 'v1' ? expectedV1(e) : expectedV2(e))

// ---------------------------------------------------------------------------
// Clients that bind their socket to a chosen local address and log in by hand
// (SASL PLAIN, bind), so the test controls exactly where they connect from.

interface LoginResult {
  readonly jid: string
  /** Local ports of every TCP connection the client made to Causeway. */
  readonly localPorts: number[]
  /** Everything the server sent, for diagnostics and negative checks. */
  readonly transcript: () => string
  close(): Promise<void>
}

const plainAuth = (u: { username: string; password: string }) =>
  `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${u.username}\0${u.password}`).toString('base64')}</auth>`
const bindIq = (resource: string) => `<iq type='set' id='bind-1' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`

/** RFC 7395 over `ws`, the socket bound to `localAddress`. */
async function wsLogin(
  url: string,
  user: { username: string; password: string },
  resource: string,
  options: { localAddress: string; domain: string; headers?: Record<string, string> },
): Promise<LoginResult> {
  const socket = new WebSocket(url, 'xmpp', { localAddress: options.localAddress, ...(options.headers ? { headers: options.headers } : {}) })
  const frames: string[] = []
  const localPorts: number[] = []
  let closed = false
  socket.on('upgrade', (response: http.IncomingMessage) => {
    if (response.socket.localPort !== undefined) localPorts.push(response.socket.localPort)
  })
  socket.on('message', (data) => frames.push(data.toString()))
  socket.on('close', () => (closed = true))
  socket.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
    socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
  })
  const transcript = () => frames.join('\n')
  let seen = 0
  const next = async (pattern: RegExp): Promise<string> => {
    const frame = await eventually(`${String(pattern)} over WebSocket (got ${JSON.stringify(frames)})`, () => {
      const index = frames.findIndex((f, i) => i >= seen && pattern.test(f))
      if (index >= 0) {
        seen = index + 1
        return frames[index]
      }
      if (closed) throw new Error(`WebSocket closed while waiting for ${String(pattern)}; got ${JSON.stringify(frames)}`)
      return undefined
    })
    return frame
  }
  const open = `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='${options.domain}' version='1.0'/>`
  // RFC 7395 §3.6: <close/>, the server answers <close/>, then the client closes the WebSocket.
  const close = async () => {
    if (closed) return
    socket.send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
    try {
      await next(/^<close /)
      socket.close(1000)
      await eventually('the WebSocket to close', () => (closed ? true : undefined))
    } catch {
      socket.terminate()
    }
  }
  try {
    socket.send(open)
    await next(/<stream:features[^]*<mechanism>PLAIN</)
    socket.send(plainAuth(user))
    await next(/<success/)
    socket.send(open)
    await next(/<stream:features[^]*urn:ietf:params:xml:ns:xmpp-bind/)
    socket.send(bindIq(resource))
    const bound = await next(/<iq[^>]*id=['"]bind-1['"]/)
    const jid = /<jid>([^<]+)<\/jid>/.exec(bound)?.[1]
    if (jid === undefined) throw new Error(`bind failed: ${bound}`)
    return { jid, localPorts, transcript, close }
  } catch (err) {
    socket.terminate()
    throw Object.assign(err as Error, { transcript: transcript() })
  }
}

/** XEP-0124/0206 with one node:http request at a time, each on a new connection from `localAddress`. */
async function boshLogin(
  url: string,
  user: { username: string; password: string },
  resource: string,
  options: { localAddress: string; domain: string },
): Promise<LoginResult> {
  const NS = "xmlns='http://jabber.org/protocol/httpbind'"
  const localPorts: number[] = []
  const responses: string[] = []
  const post = (body: string) =>
    new Promise<string>((resolve, reject) => {
      const request = http.request(url, { method: 'POST', localAddress: options.localAddress, agent: false, headers: { 'content-type': 'text/xml; charset=utf-8' } }, (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          responses.push(text)
          resolve(text)
        })
        response.on('error', reject)
      })
      request.on('socket', (socket) => socket.once('connect', () => localPorts.push(socket.localPort ?? 0)))
      request.on('error', reject)
      request.setTimeout(STEP_TIMEOUT_MS, () => request.destroy(new Error('BOSH request timed out')))
      request.end(body)
    })
  let rid = 4000 + Math.floor(Math.random() * 1000)
  const created = await post(
    `<body ${NS} xmlns:xmpp='urn:xmpp:xbosh' content='text/xml; charset=utf-8' hold='1' rid='${rid}' to='${options.domain}' ver='1.6' wait='10' xml:lang='en' xmpp:version='1.0'/>`,
  )
  const transcript = () => responses.join('\n')
  const sid = /sid=['"]([^'"]+)['"]/.exec(created)?.[1]
  if (sid === undefined) throw Object.assign(new Error(`no BOSH session: ${created}`), { transcript: transcript() })
  /** Send `payload` (or nothing) and poll until a response matches. */
  const exchange = async (payload: string, pattern: RegExp, attrs = ''): Promise<string> => {
    let text = await post(`<body ${NS} rid='${++rid}' sid='${sid}'${attrs}>${payload}</body>`)
    const deadline = Date.now() + STEP_TIMEOUT_MS
    while (!pattern.test(text)) {
      if (/type=['"]terminate['"]/.test(text)) throw Object.assign(new Error(`BOSH session terminated while waiting for ${String(pattern)}: ${text}`), { transcript: transcript() })
      if (Date.now() > deadline) throw Object.assign(new Error(`timed out waiting for ${String(pattern)} over BOSH`), { transcript: transcript() })
      text = await post(`<body ${NS} rid='${++rid}' sid='${sid}'/>`)
    }
    return text
  }
  if (!/<stream:features/.test(created)) await exchange('', /<stream:features[^]*<mechanism>PLAIN</)
  await exchange(plainAuth(user), /<success/)
  await exchange('', /<stream:features[^]*urn:ietf:params:xml:ns:xmpp-bind/, ` xmlns:xmpp='urn:xmpp:xbosh' xmpp:restart='true' to='${options.domain}' xml:lang='en'`)
  const bound = await exchange(bindIq(resource), /<iq[^>]*id=['"]bind-1['"]/)
  const jid = /<jid>([^<]+)<\/jid>/.exec(bound)?.[1]
  if (jid === undefined) throw new Error(`bind failed: ${bound}`)
  return {
    jid,
    localPorts,
    transcript,
    close: async () => {
      await post(`<body ${NS} rid='${++rid}' sid='${sid}' type='terminate'><presence type='unavailable' xmlns='jabber:client'/></body>`).catch(() => '')
    },
  }
}

// ---------------------------------------------------------------------------

t.test('the option: off by default, --upstream-proxy-protocol v1|v2 on the command line, nothing else', async (t) => {
  t.equal(makeConfig({}).upstreamProxyProtocol, 'off', 'the default is off')
  for (const version of ['off', 'v1', 'v2'] as const) {
    t.equal(loadConfig({ argv: ['--upstream-proxy-protocol', version], env: {} }).upstreamProxyProtocol, version, `--upstream-proxy-protocol ${version}`)
  }
  for (const bad of ['v3', 'on', '1', 'proxy', '']) {
    t.throws(() => loadConfig({ argv: ['--upstream-proxy-protocol', bad], env: {} }), ConfigError, `${JSON.stringify(bad)} is refused`)
  }
})

const ejabberd = await startEjabberd({ users: [ALICE, BOB], proxyProtocol: true })
const proxyPort = ejabberd.proxyC2sPort
if (proxyPort === undefined) throw new Error('the ejabberd harness did not open a PROXY protocol listener')
t.teardown(async () => {
  if (!t.passing()) console.error(`--- ejabberd log (${ejabberd.dir}) ---\n${ejabberd.logText().split('\n').slice(-80).join('\n')}`)
  await ejabberd.stop()
})
const { domain } = ejabberd

/** The one bit of tap's Test the helpers need. */
interface Teardown { teardown(fn: () => unknown): void }

async function causewayFor(t: Teardown, version: ProxyProtocolVersion | undefined, upstreamPort: number, extra: Parameters<typeof startCauseway>[0] = {}): Promise<RunningCauseway> {
  const cw = await startCauseway({ upstream: [`${domain}=tcp://127.0.0.1:${upstreamPort}`], ...(version !== undefined ? { upstreamProxyProtocol: version } : {}), ...extra })
  t.teardown(() => cw.stop())
  return cw
}

async function relayTo(t: Teardown, port: number): Promise<Relay> {
  const relay = await startRelay(port)
  t.teardown(() => relay.close())
  return relay
}

async function onlySession(server: RunningEjabberd, username: string, resource: string): Promise<EjabberdSession> {
  return await eventually(`ejabberd's session ${username}/${resource}`, async () => (await server.sessions(username)).find((s) => s.resource === resource))
}

async function sessionGone(server: RunningEjabberd, username: string, resource: string): Promise<true> {
  return await eventually(`${username}/${resource} to leave ejabberd`, async () => ((await server.sessions(username)).some((s) => s.resource === resource) ? undefined : true))
}

type Transport = 'WebSocket' | 'BOSH'
const login = (transport: Transport, cw: RunningCauseway, user: { username: string; password: string }, resource: string, localAddress = CLIENT_IP) =>
  transport === 'WebSocket' ? wsLogin(cw.wsUrl, user, resource, { localAddress, domain }) : boshLogin(cw.boshUrl, user, resource, { localAddress, domain })

for (const version of ['v1', 'v2'] as const) {
  t.test(`upstreamProxyProtocol ${version}: ejabberd sees the client's own address`, async (t) => {
    const relay = await relayTo(t, proxyPort)
    const cw = await causewayFor(t, version, relay.port)

    for (const transport of ['WebSocket', 'BOSH'] as const) {
      t.test(`over ${transport}`, async (t) => {
        const resource = `${version}-${transport.toLowerCase()}`
        const before = relay.connections.length
        const client = await login(transport, cw, ALICE, resource)
        t.teardown(() => client.close())
        t.equal(client.jid, `alice@${domain}/${resource}`, `logged in through Causeway from ${CLIENT_IP} and bound`)
        t.equal(relay.connections.length, before + 1, 'one upstream connection for the session')
        const connection = relay.connections[before]
        if (connection === undefined) throw new Error('unreachable')

        const session = await onlySession(ejabberd, 'alice', resource)
        t.equal(session.ip, CLIENT_IP, `ejabberd reports the client address ${CLIENT_IP}, not Causeway's 127.0.0.1`)
        t.ok(client.localPorts.includes(session.port), `and a source port the client really used (${session.port} in ${JSON.stringify(client.localPorts)})`)
        if (transport === 'WebSocket') t.same(client.localPorts, [session.port], 'for WebSocket: the one connection\'s port')
        const logged = await ejabberd.waitForLog(new RegExp(`Accepted proxied connection ${CLIENT_IP.replaceAll('.', '\\.')}:${session.port} -> `))
        t.match(logged, `-> 127.0.0.1:${cw.port}`, 'the destination is the Causeway listener the client reached')

        const header = await preamble(connection)
        const expected = expectedHeader(version, { sourceAddress: CLIENT_IP, sourcePort: session.port, destinationAddress: '127.0.0.1', destinationPort: cw.port })
        t.same(header.toString('hex'), expected.toString('hex'), `the upstream connection starts with exactly the ${version} header${version === 'v1' ? `: ${JSON.stringify(expected.toString('latin1'))}` : ''}`)
        t.match(connection.received().subarray(header.length).toString('utf8'), /^<\?xml|^<stream:stream/, 'followed directly by the XML stream')

        await client.close()
        await sessionGone(ejabberd, 'alice', resource)
        t.pass('a clean close ends the session in ejabberd')
      })
    }

    t.test('a header per upstream connection: two clients, two headers, each with its own source port', async (t) => {
      const before = relay.connections.length
      const alice = await login('WebSocket', cw, ALICE, `${version}-two-a`)
      t.teardown(() => alice.close())
      const bob = await login('WebSocket', cw, BOB, `${version}-two-b`, '127.0.0.8')
      t.teardown(() => bob.close())
      const [first, second] = relay.connections.slice(before)
      if (first === undefined || second === undefined) throw new Error(`expected two upstream connections, got ${relay.connections.length - before}`)
      const aliceSession = await onlySession(ejabberd, 'alice', `${version}-two-a`)
      const bobSession = await onlySession(ejabberd, 'bob', `${version}-two-b`)
      t.same([aliceSession.ip, bobSession.ip], [CLIENT_IP, '127.0.0.8'], 'each session carries its own client\'s address')
      t.same((await preamble(first)).toString('hex'), expectedHeader(version, { sourceAddress: CLIENT_IP, sourcePort: aliceSession.port, destinationAddress: '127.0.0.1', destinationPort: cw.port }).toString('hex'), 'alice\'s connection has alice\'s header')
      t.same((await preamble(second)).toString('hex'), expectedHeader(version, { sourceAddress: '127.0.0.8', sourcePort: bobSession.port, destinationAddress: '127.0.0.1', destinationPort: cw.port }).toString('hex'), 'bob\'s has bob\'s')
      await alice.close()
      await bob.close()
    })
  })
}

t.test('behind a trusted reverse proxy, the header carries the forwarded client address (port 0: unknown)', async (t) => {
  const relay = await relayTo(t, proxyPort)
  const cw = await causewayFor(t, 'v1', relay.port, { trustedProxy: [CLIENT_IP] })
  const client = await wsLogin(cw.wsUrl, ALICE, 'forwarded', { localAddress: CLIENT_IP, domain, headers: { 'x-forwarded-for': '198.51.100.23' } })
  t.teardown(() => client.close())
  const session = await onlySession(ejabberd, 'alice', 'forwarded')
  t.equal(session.ip, '198.51.100.23', 'ejabberd reports the address the trusted proxy forwarded')
  const header = await preamble(relay.connections[0] ?? { received: () => Buffer.alloc(0) })
  t.equal(header.toString('latin1'), `PROXY TCP4 198.51.100.23 127.0.0.1 0 ${cw.port}\r\n`)
  await client.close()
})

const ipv6Loopback = await new Promise<boolean>((resolve) => {
  const probe = net.createServer()
  probe.once('error', () => resolve(false)).listen(0, '::1', () => probe.close(() => resolve(true)))
})

t.test('IPv6: a client on ::1 reaching Causeway on ::1 gets TCP6 / AF_INET6 headers', { skip: ipv6Loopback ? false : 'no IPv6 loopback on this machine' }, async (t) => {
  for (const version of ['v1', 'v2'] as const) {
    const relay = await relayTo(t, proxyPort)
    const cw = await causewayFor(t, version, relay.port, { host: '::1' })
    const resource = `ipv6-${version}`
    const client = await wsLogin(`ws://[::1]:${cw.port}/xmpp-websocket`, ALICE, resource, { localAddress: '::1', domain })
    const session = await onlySession(ejabberd, 'alice', resource)
    t.equal(session.ip, '::1', `${version}: ejabberd reports ::1`)
    t.same(client.localPorts, [session.port], `${version}: and the client's port`)
    const header = await preamble(relay.connections[0] ?? { received: () => Buffer.alloc(0) })
    t.same(header.toString('hex'), expectedHeader(version, { sourceAddress: '::1', sourcePort: session.port, destinationAddress: '::1', destinationPort: cw.port }).toString('hex'), `${version}: exact IPv6 header`)
    await client.close()
  }
})

t.test('off (the default): no header, and ejabberd sees Causeway\'s own address', async (t) => {
  for (const version of [undefined, 'off'] as const) {
    const label = version === undefined ? 'default' : "'off'"
    const relay = await relayTo(t, ejabberd.c2sPort)
    const cw = await causewayFor(t, version, relay.port)
    for (const transport of ['WebSocket', 'BOSH'] as const) {
      const resource = `off-${version ?? 'default'}-${transport.toLowerCase()}`
      const client = await login(transport, cw, ALICE, resource)
      const session = await onlySession(ejabberd, 'alice', resource)
      t.equal(session.ip, '127.0.0.1', `${label}, ${transport}: ejabberd sees 127.0.0.1 although the client is ${CLIENT_IP}`)
      t.notOk(client.localPorts.includes(session.port), `${label}, ${transport}: and not the client's port`)
      const connection = relay.connections.at(-1)
      t.match(connection?.received().toString('utf8') ?? '', /^<\?xml|^<stream:stream/, `${label}, ${transport}: the upstream stream starts with XML, no PROXY header`)
      await client.close()
      await sessionGone(ejabberd, 'alice', resource)
    }
  }
})

t.test('off against a listener that requires the PROXY protocol: ejabberd refuses, no session', async (t) => {
  const cw = await causewayFor(t, 'off', proxyPort)
  for (const transport of ['WebSocket', 'BOSH'] as const) {
    const resource = `refused-${transport.toLowerCase()}`
    const error = await login(transport, cw, ALICE, resource).then(
      async (client) => {
        await client.close()
        return undefined
      },
      (err: Error & { transcript?: string }) => err,
    )
    t.ok(error, `${transport}: the login fails`)
    t.notMatch(error?.transcript ?? '', /<stream:features/, `${transport}: no stream features ever reach the client`)
    t.match(error?.transcript ?? error?.message ?? '', /remote-connection-failed|<stream:error|type=['"]terminate['"]|closed/, `${transport}: the client is told the session ended (${JSON.stringify((error?.transcript ?? error?.message ?? '').slice(-200))})`)
    t.same((await ejabberd.sessions('alice')).filter((s) => s.resource === resource), [], `${transport}: ejabberd has no such session`)
  }
  t.equal(cw.causeway.websocket.sessions.size, 0, 'no WebSocket session left in Causeway')
  await eventually('no BOSH session left in Causeway', () => (cw.causeway.bosh.registry.size === 0 ? true : undefined))
  t.equal(cw.causeway.bosh.registry.size, 0, 'no BOSH session left in Causeway')
})
