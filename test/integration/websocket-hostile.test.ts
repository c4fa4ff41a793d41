/**
 * Hostile input over WebSocket: each case gets its specified answer, for
 * that session only, and a second session on the same Causeway keeps working.
 */
import net from 'node:net'
import t from 'tap'
import { startProsody } from '../helpers/prosody.js'
import { startCauseway } from '../helpers/causeway.js'
import { connectClient } from '../helpers/xmpp-client.js'
import { CLOSE, OPEN, rawClient } from '../helpers/ws-client.js'

const ALICE = { username: 'alice', password: 'alice-secret-1' }
const STREAMS = 'urn:ietf:params:xml:ns:xmpp-streams'

function streamError(condition: string): RegExp {
  return new RegExp(`^<stream:error xmlns:stream=.http://etherx.jabber.org/streams.><${condition} xmlns=.${STREAMS}./>`)
}

t.test('hostile input over WebSocket', async (t) => {
  const prosody = await startProsody({ users: [ALICE] })
  t.teardown(() => prosody.stop())
  const cw = await startCauseway({
    upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`],
    allowedOrigin: ['https://chat.example'],
    maxStanzaBytes: 64 * 1024,
  })
  t.teardown(() => cw.stop())

  /** Open a stream and read `<open/>` + features. */
  async function openStream() {
    const client = await rawClient(cw.wsUrl)
    client.send(OPEN())
    await client.waitForMatch(/^<stream:features/)
    t.match(client.messages[0], /^<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='localhost' id='[^']+' version='1.0'/)
    return client
  }

  /** After a violation: the stream error, then <close/>, then the socket closes. */
  async function expectStreamError(client: Awaited<ReturnType<typeof rawClient>>, condition: string, t: Tap) {
    const closed = await client.closed
    const afterOpen = client.messages.slice(client.messages.findIndex((m) => /^<stream:features|^<open /.test(m)) + 1).filter((m) => !/^<stream:features/.test(m))
    t.equal(afterOpen.length, 2, 'exactly two messages after the stream opened')
    t.match(afterOpen[0], streamError(condition), `stream error ${condition}`)
    t.equal(afterOpen[1], "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>", 'followed by <close/>')
    t.equal(closed.code, 1000, 'then the WebSocket closes normally')
  }
  type Tap = typeof t

  const cases: Array<[string, string, string]> = [
    ['DOCTYPE', "<!DOCTYPE message [<!ENTITY x 'boom'>]><message xmlns='jabber:client'/>", 'restricted-xml'],
    ['comment', "<message xmlns='jabber:client'><!-- hello --></message>", 'restricted-xml'],
    ['processing instruction', "<message xmlns='jabber:client'><?evil?></message>", 'restricted-xml'],
    ['unknown entity', "<message xmlns='jabber:client'><body>&xxe;</body></message>", 'not-well-formed'],
    ['10,000-deep nesting', "<message xmlns='jabber:client'>" + '<a>'.repeat(10_000), 'policy-violation'],
    ['two elements in one message', "<message xmlns='jabber:client'/><message xmlns='jabber:client'/>", 'not-well-formed'],
    ['open in the wrong namespace', "<open xmlns='jabber:client' to='localhost' version='1.0'/>", 'invalid-namespace'],
    ['mismatched tags', "<message xmlns='jabber:client'><body></message>", 'not-well-formed'],
  ]
  for (const [name, payload, condition] of cases) {
    t.test(`${name} → ${condition}`, async (t) => {
      const client = await openStream()
      client.send(payload)
      await expectStreamError(client, condition, t)
    })
  }

  t.test('an oversized stanza is refused by the WebSocket layer with 1009', async (t) => {
    const client = await openStream()
    client.send(`<message xmlns='jabber:client'><body>${'x'.repeat(70 * 1024)}</body></message>`)
    const closed = await client.closed
    t.equal(closed.code, 1009, 'RFC 6455 §7.4.1: message too big')
  })

  t.test('a binary frame is refused with 1003', async (t) => {
    const client = await openStream()
    client.send(Buffer.from("<message xmlns='jabber:client'/>"), true)
    const closed = await client.closed
    t.equal(closed.code, 1003, 'RFC 6455 §7.4.1: unsupported data')
    t.notOk(client.messages.some((m) => m.startsWith('<close')), 'no <close/> was sent: the frame, not the stream, was refused')
    await new Promise((r) => setTimeout(r, 50))
    t.match(await cw.causeway.metrics.registry.metrics(), /condition="unsupported-data"\} 1/, 'counted as unsupported-data')
  })

  t.test('a stanza before <open/> is bad-format', async (t) => {
    const client = await rawClient(cw.wsUrl)
    client.send("<message xmlns='jabber:client'/>")
    await expectStreamError(client, 'bad-format', t)
    t.match(client.messages[0], /^<open /, 'the error is preceded by an <open/>')
  })

  t.test('an unknown domain is host-unknown', async (t) => {
    for (const to of ['evil.example', 'localhost:5222', '127.0.0.1', 'lоcalhost']) {
      const client = await rawClient(cw.wsUrl)
      client.send(OPEN(to))
      await expectStreamError(client, 'host-unknown', t)
    }
  })

  t.test('handshake refusals', async (t) => {
    const missing = await rawClient(cw.wsUrl, []).catch((e: { statusCode?: number }) => e)
    t.equal((missing as { statusCode?: number }).statusCode, 400, 'no xmpp subprotocol → 400')
    const wrong = await rawClient(cw.wsUrl, ['chat']).catch((e: { statusCode?: number }) => e)
    t.equal((wrong as { statusCode?: number }).statusCode, 400, 'another subprotocol → 400')
    const origin = await rawClient(cw.wsUrl, ['xmpp'], { origin: 'https://evil.example' }).catch((e: { statusCode?: number }) => e)
    t.equal((origin as { statusCode?: number }).statusCode, 403, 'an Origin outside the allowlist → 403')
    const allowed = await rawClient(cw.wsUrl, ['xmpp'], { origin: 'https://chat.example' })
    t.equal(allowed.socket.protocol, 'xmpp', 'an allowed Origin gets the xmpp subprotocol')
    allowed.socket.close()
    const old = await rawClient(cw.wsUrl, ['xmpp'], { protocolVersion: 8 }).catch((e: { statusCode?: number; headers?: Record<string, string> }) => e)
    t.equal((old as { statusCode?: number }).statusCode, 426, 'hybi-08 → 426 Upgrade Required')
    t.equal((old as { headers?: Record<string, string> }).headers?.['sec-websocket-version'], '13', 'naming version 13')
    const hixie = await fetchRaw(cw.port, [
      `GET /xmpp-websocket HTTP/1.1`,
      'Host: 127.0.0.1',
      'Connection: Upgrade',
      'Upgrade: WebSocket',
      'Origin: https://chat.example',
      'Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5',
      'Sec-WebSocket-Key2: 12998 5 Y3 1  .P00',
      '',
      '',
    ].join('\r\n'))
    t.match(hixie, /^HTTP\/1\.1 426 /, 'hixie-76 → 426')
    t.match(hixie, /sec-websocket-version: 13/i)
    const plain = await fetch(`${cw.httpUrl}/xmpp-websocket`)
    t.equal(plain.status, 426, 'a plain GET is told to upgrade')
    const upgrade = (requestLine: string) =>
      fetchRaw(cw.port, [requestLine, 'Host: 127.0.0.1', 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol: xmpp', '', ''].join('\r\n'))
    const elsewhere = await upgrade('GET /metrics HTTP/1.1')
    t.match(elsewhere, /^HTTP\/1\.1 404 /, 'an upgrade to any other path → 404, never a WebSocket')
    t.match(elsewhere, /connection: close/i, 'and the connection closes')
    t.notMatch(elsewhere, /^HTTP\/1\.1 101/m)
    const posted = await upgrade('POST /xmpp-websocket HTTP/1.1')
    t.match(posted, /^HTTP\/1\.1 404 /, 'an upgrade with another method than GET → 404 (RFC 6455 §4.1: the handshake is a GET)')
    const query = await upgrade('GET /xmpp-websocket?x=1 HTTP/1.1')
    t.match(query, /^HTTP\/1\.1 101 /, 'a query string does not change the path')
  })

  t.test('<close/> is answered with <close/> and the upstream stream ends', async (t) => {
    const client = await openStream()
    client.send(CLOSE)
    await client.waitForMatch(/^<close /)
    client.socket.close(1000)
    const closed = await client.closed
    t.equal(closed.code, 1000)
  })

  t.test('after all that, a real client still logs in and gets an answer', async (t) => {
    const alice = await connectClient({ service: cw.wsUrl, ...ALICE })
    t.equal(alice.jid, 'alice@localhost/test')
    await alice.stop()
  })
})

t.test('no open relay: unrouted domains never cause a connection', async (t) => {
  let connections = 0
  const canary = net.createServer((socket) => {
    connections++
    socket.destroy()
  })
  await new Promise<void>((resolve) => canary.listen(0, '127.0.0.1', resolve))
  t.teardown(() => canary.close())
  const port = (canary.address() as net.AddressInfo).port
  const cw = await startCauseway({ upstream: [`canary.example=tcp://127.0.0.1:${port}`], upstreamConnectTimeoutMs: 2000 })
  t.teardown(() => cw.stop())
  for (const to of ['evil.example', 'canary.example:5222', 'canary.example:' + port, '', 'canary.example.evil', 'сanary.example', '127.0.0.1']) {
    const client = await rawClient(cw.wsUrl)
    client.send(OPEN(to))
    await client.closed
    // RFC 6120 §4.9.3.7: no domain at all is improper-addressing (as BOSH says it); any other is host-unknown.
    const condition = to === '' ? 'improper-addressing' : 'host-unknown'
    t.match(client.messages.join(''), new RegExp(`<${condition} `), `to='${to}' is ${condition}`)
  }
  t.equal(connections, 0, 'the canary saw no connection')
  const client = await rawClient(cw.wsUrl)
  client.send(OPEN('CANARY.example.'))
  await client.closed
  t.match(client.messages.join(''), /<remote-connection-failed /, 'a configured domain (case, trailing dot) is routed')
  t.equal(connections, 1, 'and that one reached the canary')
})

function fetchRaw(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request))
    let data = ''
    socket.on('data', (chunk) => (data += chunk.toString()))
    socket.on('end', () => resolve(data))
    socket.on('close', () => resolve(data))
    socket.on('error', reject)
    setTimeout(() => {
      socket.destroy()
      resolve(data)
    }, 3000).unref()
  })
}

t.test('session caps: per address 429, in total 503, released on close', async (t) => {
  const cw = await startCauseway({ upstream: ['localhost=tcp://127.0.0.1:1'], maxSessions: 3, maxSessionsPerIp: 2 })
  t.teardown(() => cw.stop())
  const first = await rawClient(cw.wsUrl)
  const second = await rawClient(cw.wsUrl)
  const third = await rawClient(cw.wsUrl).catch((e: { statusCode?: number }) => e)
  t.equal((third as { statusCode?: number }).statusCode, 429, 'a third session from one address → 429')
  first.socket.close()
  await first.closed
  await new Promise((r) => setTimeout(r, 50))
  const again = await rawClient(cw.wsUrl)
  t.equal(again.socket.readyState, again.socket.OPEN, 'the slot came back when the first closed')
  second.socket.close()
  again.socket.close()

  const small = await startCauseway({ upstream: ['localhost=tcp://127.0.0.1:1'], maxSessions: 1, maxSessionsPerIp: 1 })
  t.teardown(() => small.stop())
  const only = await rawClient(small.wsUrl)
  const over = await rawClient(small.wsUrl).catch((e: { statusCode?: number }) => e)
  t.equal((over as { statusCode?: number }).statusCode, 503, 'beyond the server total → 503')
  only.socket.close()
})
