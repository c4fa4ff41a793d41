/**
 * upstreamProxyProtocol: the PROXY header is the very first thing on each
 * upstream connection — before the stream header, before a direct-TLS
 * ClientHello — and names the client Causeway saw (after trusted proxies).
 * Checked byte for byte against a capturing TCP server; ejabberd's real
 * use_proxy_protocol listener is covered in upstream-proxy-protocol.test.ts.
 */
import http from 'node:http'
import net from 'node:net'
import t from 'tap'
import WebSocket from 'ws'
import { startCauseway } from '../helpers/causeway.js'

const HTTPBIND = "xmlns='http://jabber.org/protocol/httpbind'"

/** Records the first bytes of every connection (and never answers). */
async function capture(): Promise<{ port: number; next(bytes: number): Promise<Buffer>; close(): Promise<void> }> {
  const waiting: Array<{ bytes: number; resolve: (b: Buffer) => void }> = []
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    let data = Buffer.alloc(0)
    const waiter = waiting.shift()
    socket.on('error', () => {})
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk])
      if (waiter && data.length >= waiter.bytes) waiter.resolve(data)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    next: (bytes) => new Promise((resolve) => waiting.push({ bytes, resolve })),
    close: () => {
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

function wsFrom(url: string, localAddress: string, headers: Record<string, string> = {}): WebSocket {
  const socket = new WebSocket(url, ['xmpp'], { localAddress, headers })
  socket.on('error', () => {})
  socket.on('open', () => socket.send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>"))
  return socket
}

function boshFrom(url: string, localAddress: string): http.ClientRequest {
  const request = http.request(url, { method: 'POST', localAddress })
  request.on('error', () => {})
  request.end(`<body ${HTTPBIND} rid='1' to='localhost' wait='5' hold='1' ver='1.11'/>`)
  return request
}

t.test('v1 over WebSocket: the client address and port, then the stream header', async (t) => {
  const upstream = await capture()
  t.teardown(() => upstream.close())
  const causeway = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${upstream.port}`], upstreamProxyProtocol: 'v1' })
  t.teardown(() => causeway.stop())
  const arriving = upstream.next(60)
  const client = wsFrom(causeway.wsUrl, '127.0.0.9')
  t.teardown(() => client.terminate())
  const bytes = (await arriving).toString('latin1')
  const line = bytes.slice(0, bytes.indexOf('\r\n') + 2)
  t.match(line, new RegExp(`^PROXY TCP4 127\\.0\\.0\\.9 127\\.0\\.0\\.1 \\d+ ${causeway.port}\\r\\n$`))
  const sourcePort = Number(line.split(' ')[4])
  t.ok(sourcePort > 0 && sourcePort < 65536, 'the client’s real source port')
  t.match(bytes.slice(line.length), /^<\?xml|^<stream:stream/, 'the stream header follows immediately')
})

t.test('v2 over BOSH: the binary header, then the stream header', async (t) => {
  const upstream = await capture()
  t.teardown(() => upstream.close())
  const causeway = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${upstream.port}`], upstreamProxyProtocol: 'v2' })
  t.teardown(() => causeway.stop())
  const arriving = upstream.next(60)
  const request = boshFrom(causeway.boshUrl, '127.0.0.10')
  t.teardown(() => request.destroy())
  const bytes = await arriving
  t.equal(bytes.subarray(0, 12).toString('hex'), '0d0a0d0a000d0a515549540a', 'v2 signature')
  t.equal(bytes[12], 0x21, 'version 2, PROXY')
  t.equal(bytes[13], 0x11, 'TCP over IPv4')
  t.equal(bytes.readUInt16BE(14), 12)
  t.same([...bytes.subarray(16, 20)], [127, 0, 0, 10], 'source address')
  t.same([...bytes.subarray(20, 24)], [127, 0, 0, 1], 'destination address')
  t.equal(bytes.readUInt16BE(26), causeway.port, 'destination port')
  t.match(bytes.subarray(28).toString('utf8'), /^<\?xml|^<stream:stream/)
})

t.test('behind a trusted proxy the forwarded client is announced (port unknown: 0)', async (t) => {
  const upstream = await capture()
  t.teardown(() => upstream.close())
  const causeway = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${upstream.port}`], upstreamProxyProtocol: 'v1', trustedProxy: ['127.0.0.1'] })
  t.teardown(() => causeway.stop())
  const arriving = upstream.next(60)
  const client = wsFrom(causeway.wsUrl, '127.0.0.1', { 'x-forwarded-for': '6.6.6.6, 203.0.113.9' })
  t.teardown(() => client.terminate())
  const bytes = (await arriving).toString('latin1')
  t.match(bytes, new RegExp(`^PROXY TCP4 203\\.0\\.113\\.9 127\\.0\\.0\\.1 0 ${causeway.port}\\r\\n`))
})

t.test('an untrusted client’s forwarding header changes nothing', async (t) => {
  const upstream = await capture()
  t.teardown(() => upstream.close())
  const causeway = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${upstream.port}`], upstreamProxyProtocol: 'v1', trustedProxy: ['10.0.0.0/8'] })
  t.teardown(() => causeway.stop())
  const arriving = upstream.next(60)
  const client = wsFrom(causeway.wsUrl, '127.0.0.11', { 'x-forwarded-for': '203.0.113.9' })
  t.teardown(() => client.terminate())
  t.match((await arriving).toString('latin1'), /^PROXY TCP4 127\.0\.0\.11 127\.0\.0\.1 [1-9]\d* /)
})

t.test('with direct TLS upstream the header precedes the ClientHello', async (t) => {
  const upstream = await capture()
  t.teardown(() => upstream.close())
  const causeway = await startCauseway({ upstream: [`localhost=tls://127.0.0.1:${upstream.port}`], upstreamProxyProtocol: 'v1', upstreamConnectTimeoutMs: 2000 })
  t.teardown(() => causeway.stop())
  const arriving = upstream.next(80)
  const client = wsFrom(causeway.wsUrl, '127.0.0.12')
  t.teardown(() => client.terminate())
  const bytes = await arriving
  const end = bytes.indexOf('\r\n') + 2
  t.match(bytes.subarray(0, end).toString('latin1'), /^PROXY TCP4 127\.0\.0\.12 /)
  t.equal(bytes[end], 0x16, 'then a TLS handshake record')
})

t.test('off (the default): the stream header comes first', async (t) => {
  const upstream = await capture()
  t.teardown(() => upstream.close())
  const causeway = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${upstream.port}`] })
  t.teardown(() => causeway.stop())
  const arriving = upstream.next(20)
  const client = wsFrom(causeway.wsUrl, '127.0.0.13')
  t.teardown(() => client.terminate())
  t.match((await arriving).toString('latin1'), /^<\?xml|^<stream:stream/)
})
