/**
 * Behind a corporate forward proxy, a browser reaches a wss:// endpoint the
 * way RFC 7231 §4.3.6 describes: it asks the proxy to `CONNECT host:port`,
 * gets `200`, and then runs TLS and the WebSocket handshake end to end over
 * that tunnel, so the proxy sees neither the upgrade nor the XMPP traffic.
 *
 * Here the proxy is the real Debian Squid and Causeway terminates TLS itself
 * (tlsCert/tlsKey, a test CA the client verifies), in front of a real Prosody.
 * Squid opens its side of the tunnel from 127.0.0.9 (tcp_outgoing_address),
 * so Causeway's log shows that the session really came through it.
 */
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { connect as netConnect } from 'node:net'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import type { TLSSocket } from 'node:tls'
import t from 'tap'
import { eventually } from '../helpers/wait.js'
import { parse as parseXml } from 'ltx'
import type { Element } from 'ltx'
import { startCauseway } from '../helpers/causeway.js'
import { startProsody } from '../helpers/prosody.js'
import { startSquid } from '../helpers/squid.js'
import { makeTlsFixtures } from '../helpers/tls.js'
import { CLOSE, OPEN, rawClient } from '../helpers/ws-client.js'
import type { RawClient } from '../helpers/ws-client.js'

const ALICE = { username: 'alice', password: 'alice-secret-1' }
const BOB = { username: 'bob', password: 'bob-secret-2' }
const SQUID_OUTGOING = '127.0.0.9'

interface Tunnel {
  /** The proxy's status line, e.g. `HTTP/1.1 200 Connection established`. */
  readonly statusLine: string
  readonly status: number
  /** Positioned right after the proxy's response header: whatever comes next is the far end's. */
  readonly socket: Socket
}

/** Open a TCP connection to the proxy from `localAddress` and ask it for a tunnel to `target` (host:port). */
async function connectTunnel(proxyPort: number, target: string, localAddress: string): Promise<Tunnel> {
  const socket = netConnect({ host: '127.0.0.1', port: proxyPort, localAddress })
  await once(socket, 'connect')
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\nUser-Agent: causeway-test\r\n\r\n`)
  let head = Buffer.alloc(0)
  for (;;) {
    const [chunk] = (await once(socket, 'data')) as [Buffer]
    head = Buffer.concat([head, chunk])
    const end = head.indexOf('\r\n\r\n')
    if (end < 0) continue
    socket.pause()
    // Anything after the header already belongs to the tunnel.
    if (end + 4 < head.length) socket.unshift(head.subarray(end + 4))
    const statusLine = head.subarray(0, head.indexOf('\r\n')).toString('latin1')
    return { statusLine, status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0), socket }
  }
}

/** Reads an RFC 7395 stream in order: each call returns the next message matching `pattern`. */
class Reader {
  #at = 0
  constructor(readonly raw: RawClient) {}

  async next(pattern: RegExp, what: string): Promise<Element> {
    for (;;) {
      const messages = this.raw.messages
      for (; this.#at < messages.length;) {
        const message = messages[this.#at++] ?? ''
        if (pattern.test(message)) return parseXml(message)
      }
      const have = messages.length
      const got = await this.raw.waitFor(have + 1, 10_000)
      if (got.length === have) throw new Error(`socket closed while waiting for ${what}; got ${JSON.stringify(messages)}`)
    }
  }
}

/** SASL PLAIN and resource binding over a raw RFC 7395 client; resolves with the bound JID. */
async function login(raw: RawClient, user: typeof ALICE, resource: string): Promise<{ jid: string; reader: Reader }> {
  const reader = new Reader(raw)
  raw.send(OPEN())
  const features = await reader.next(/^<stream:features/, 'stream features')
  const mechanisms = features
    .getChild('mechanisms', 'urn:ietf:params:xml:ns:xmpp-sasl')
    ?.getChildren('mechanism')
    .map((m) => m.getText())
  if (!mechanisms?.includes('PLAIN')) throw new Error(`no SASL PLAIN: ${features.toString()}`)
  raw.send(
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${user.username}\0${user.password}`).toString('base64')}</auth>`,
  )
  await reader.next(/^<success /, 'SASL success')
  raw.send(OPEN())
  await reader.next(/^<stream:features[\s\S]*urn:ietf:params:xml:ns:xmpp-bind/, 'features with bind')
  raw.send(
    `<iq type='set' id='bind1' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`,
  )
  const bound = await reader.next(/^<iq [^>]*id=["']bind1["']/, 'bind result')
  const jid = bound.getChild('bind', 'urn:ietf:params:xml:ns:xmpp-bind')?.getChildText('jid')
  if (bound.attrs.type !== 'result' || !jid) throw new Error(`bind failed: ${bound.toString()}`)
  raw.send(`<presence xmlns='jabber:client'/>`)
  return { jid, reader }
}

async function closeStream(raw: RawClient): Promise<void> {
  if (raw.socket.readyState === raw.socket.OPEN) {
    raw.send(CLOSE)
    await Promise.race([raw.waitForMatch(/^<close /, 3000).catch(() => {}), raw.closed])
    raw.socket.close(1000)
  }
  await raw.closed
}

/** Send one raw request to the proxy from 127.0.0.2; resolves with the whole response (header and Content-Length body). */
async function proxiedRequest(proxyPort: number, request: string): Promise<string> {
  const socket = netConnect({ host: '127.0.0.1', port: proxyPort, localAddress: '127.0.0.2' })
  await once(socket, 'connect')
  socket.write(request)
  let received = Buffer.alloc(0)
  try {
    for (;;) {
      const [chunk] = (await once(socket, 'data')) as [Buffer]
      received = Buffer.concat([received, chunk])
      const end = received.indexOf('\r\n\r\n')
      if (end < 0) continue
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(received.subarray(0, end).toString('latin1'))?.[1] ?? 0)
      if (received.length >= end + 4 + length) return received.toString('utf8')
    }
  } finally {
    socket.destroy()
  }
}

/** Squid writes a tunnel's access-log line when the tunnel closes. */
function waitForLog(read: () => string, pattern: RegExp): Promise<string> {
  return eventually(`an access-log line matching ${String(pattern)}`, () =>
    read()
      .split('\n')
      .find((l) => pattern.test(l)),
  )
}

t.test('wss:// through an HTTP CONNECT tunnel in a forward proxy (Squid)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'causeway-forward-proxy-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const certs = await makeTlsFixtures(dir, 'localhost')
  const ca = await readFile(certs.ca.caCertPath)
  const prosody = await startProsody({ users: [ALICE, BOB] })
  t.teardown(() => prosody.stop())
  const upstream = [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`]
  const cw = await startCauseway({ upstream, tlsCert: certs.good.certPath, tlsKey: certs.good.keyPath })
  t.teardown(() => cw.stop())
  // A plain-HTTP Causeway, to show what happens to ws:// on the same proxy.
  const plain = await startCauseway({ upstream })
  t.teardown(() => plain.stop())
  // Like a corporate proxy: CONNECT only to the TLS port (here Causeway's), not to anything else.
  const squid = await startSquid({ connectPorts: [cw.port], outgoingAddress: SQUID_OUTGOING })
  t.teardown(() => squid.stop())
  t.teardown(() => {
    if (t.passing()) return
    t.comment(squid.logs())
  })

  t.test('a client logs in through the tunnel and exchanges messages', async (t) => {
    const tunnel = await connectTunnel(squid.port, `127.0.0.1:${cw.port}`, '127.0.0.2')
    t.equal(tunnel.status, 200, `Squid opened the tunnel: ${tunnel.statusLine}`)

    // TLS with Causeway end to end, inside the tunnel: Squid only relays bytes.
    const secure: TLSSocket = tlsConnect({ socket: tunnel.socket, servername: 'localhost', ca })
    await once(secure, 'secureConnect')
    t.ok(secure.authorized, 'Causeway’s certificate verifies against the test CA, for the name localhost')
    t.equal(secure.getPeerCertificate().subject.CN, 'localhost')

    // The WebSocket handshake over the tunnelled TLS socket; the URL only supplies Host and path.
    const alice = await rawClient(`wss://localhost:${cw.port}/xmpp-websocket`, ['xmpp'], { createConnection: () => secure })
    t.teardown(() => closeStream(alice))
    t.equal(alice.socket.protocol, 'xmpp', 'the xmpp subprotocol was negotiated through the tunnel')
    const aliceSession = await login(alice, ALICE, 'tunnel')
    t.equal(aliceSession.jid, 'alice@localhost/tunnel', 'alice logged in over wss:// through Squid')

    // Bob connects straight to Causeway's wss:// listener.
    const bob = await rawClient(`wss://localhost:${cw.port}/xmpp-websocket`, ['xmpp'], { ca, family: 4, localAddress: '127.0.0.3' })
    t.teardown(() => closeStream(bob))
    const bobSession = await login(bob, BOB, 'direct')
    t.equal(bobSession.jid, 'bob@localhost/direct')

    const toBob = 'through the proxy <&> 😀'
    alice.send(
      `<message xmlns='jabber:client' to='${bobSession.jid}' type='chat' id='a1'><body>through the proxy &lt;&amp;&gt; 😀</body></message>`,
    )
    const atBob = await bobSession.reader.next(/^<message [^>]*id=["']a1["']/, 'alice’s message')
    t.equal(atBob.getChildText('body'), toBob, 'bob got alice’s body exactly')
    t.equal(atBob.attrs.from, aliceSession.jid)

    bob.send(`<message xmlns='jabber:client' to='${aliceSession.jid}' type='chat' id='b1'><body>and back</body></message>`)
    const atAlice = await aliceSession.reader.next(/^<message [^>]*id=["']b1["']/, 'bob’s message')
    t.equal(atAlice.getChildText('body'), 'and back', 'alice got bob’s reply through the tunnel')
    t.equal(atAlice.attrs.from, bobSession.jid)

    const remotes = cw
      .logLines()
      .filter((l) => l.transport === 'websocket' && typeof l.sid === 'string')
      .map((l) => String(l.remote))
    t.same(
      [...new Set(remotes)].sort(),
      ['127.0.0.3', SQUID_OUTGOING],
      'Causeway saw alice arrive from Squid’s address and bob from his own',
    )

    await closeStream(alice)
    const line = await waitForLog(squid.accessLog, new RegExp(` TCP_TUNNEL/200 \\d+ CONNECT 127\\.0\\.0\\.1:${cw.port} `))
    const [, , client, , bytes] = line.trim().split(/\s+/)
    t.equal(client, '127.0.0.2', 'Squid’s access log shows the tunnel, opened by the client at 127.0.0.2')
    t.ok(Number(bytes) > 1000, `and the bytes it carried (${bytes}: TLS, the upgrade, the XMPP session)`)
    t.equal(
      squid
        .accessLog()
        .split('\n')
        .filter((l) => l.includes('TCP_TUNNEL')).length,
      1,
      'exactly one tunnel was logged',
    )
  })

  t.test('why wss:// and not ws://: the proxy lets neither a plain-port tunnel nor a plain upgrade through', async (t) => {
    const denied = await connectTunnel(squid.port, `127.0.0.1:${plain.port}`, '127.0.0.2')
    denied.socket.destroy()
    t.equal(denied.status, 403, `CONNECT to a port that is not a TLS port is refused: ${denied.statusLine}`)

    // A ws:// handshake sent as an ordinary proxied request: Upgrade is hop-by-hop, and Squid drops it.
    const response = await proxiedRequest(
      squid.port,
      `GET http://127.0.0.1:${plain.port}/xmpp-websocket HTTP/1.1\r\nHost: 127.0.0.1:${plain.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n`,
    )
    t.match(response, /^HTTP\/1\.1 426 /, 'Causeway got a plain GET without Upgrade and answered 426, not 101')
    t.match(response, /XMPP over WebSocket endpoint/, 'the answer is Causeway’s own')
    t.equal(plain.causeway.websocket.sessions.size, 0, 'no WebSocket session came about')

    const log = squid.accessLog()
    t.match(
      log,
      new RegExp(` 127\\.0\\.0\\.2 TCP_DENIED/403 \\d+ CONNECT 127\\.0\\.0\\.1:${plain.port} `),
      'Squid logged the refused tunnel',
    )
    t.match(
      log,
      new RegExp(` 127\\.0\\.0\\.2 TCP_MISS/426 \\d+ GET http://127\\.0\\.0\\.1:${plain.port}/xmpp-websocket `),
      'and the proxied GET',
    )
  })
})
