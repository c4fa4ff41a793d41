/**
 * Flow control and liveness over WebSocket, against a scriptable upstream:
 * backpressure both ways, drain deadlines, and keepalive pings.
 */
import t from 'tap'
import type { Test } from 'tap'
import { startCauseway } from '../helpers/causeway.js'
import { startFakeUpstream } from '../helpers/fake-upstream.js'
import { OPEN, rawClient } from '../helpers/ws-client.js'

const HIGH_WATER = 64 * 1024
const DRAIN_TIMEOUT = 1500

/** Poll a condition that becomes true once the server has processed an event. */
async function eventually(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
}

async function setup(t: Test, overrides: Record<string, unknown> = {}) {
  const upstream = await startFakeUpstream()
  t.teardown(() => upstream.close())
  const cw = await startCauseway({
    upstream: [`localhost=tcp://127.0.0.1:${upstream.port}`],
    writeBufferHighWaterBytes: HIGH_WATER,
    drainTimeoutMs: DRAIN_TIMEOUT,
    ...overrides,
  })
  t.teardown(() => cw.stop())
  return { upstream, cw }
}

t.test('a client that stops reading: upstream reading pauses, then the session ends at the drain deadline', async (t) => {
  const { upstream, cw } = await setup(t)
  const client = await rawClient(cw.wsUrl)
  client.send(OPEN())
  const fake = await upstream.nextOpened()
  await client.waitForMatch(/^<stream:features/)
  // Stop reading at the TCP level, as a frozen browser tab would.
  ;(client.socket as unknown as { _socket: { pause(): void } })._socket.pause()

  const stanza = `<message to='alice@localhost'><body>${'x'.repeat(4000)}</body></message>`
  let written = 0
  let blocked = false
  const started = Date.now()
  const closed = new Promise<void>((resolve) => fake.socket.once('close', () => resolve()))
  // Flood for as long as the socket toward Causeway takes data (bounded: 64 MiB).
  // Keep going after a stall: Causeway may resume briefly as kernel buffers
  // absorb a little more, and must still end the session at its deadline.
  const flood = (async () => {
    while (written < 64 * 1024 * 1024 && !fake.socket.destroyed) {
      if (!fake.socket.write(stanza)) {
        const stalled = await Promise.race([
          new Promise<boolean>((resolve) => fake.socket.once('drain', () => resolve(false))),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 500)),
        ])
        if (stalled) {
          blocked = true
          await Promise.race([new Promise((resolve) => fake.socket.once('drain', resolve)), closed])
        }
      }
      written += stanza.length
    }
  })()
  while (!blocked && !fake.socket.destroyed && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 20))
  t.ok(blocked, `upstream writes stalled after ${(written / 1024 / 1024).toFixed(1)} MiB: Causeway stopped reading`)
  const session = [...cw.causeway.websocket.sessions][0]
  t.ok(session, 'the session is still there while within its deadline')

  await closed
  await flood
  const elapsed = Date.now() - started
  t.ok(elapsed >= DRAIN_TIMEOUT - 100 && elapsed < DRAIN_TIMEOUT + 5000, `upstream connection dropped after ${elapsed} ms`)
  await eventually(() => cw.causeway.websocket.sessions.size === 0)
  t.equal(cw.causeway.websocket.sessions.size, 0, 'the session is gone')
  t.match(await cw.causeway.metrics.registry.metrics(), /causeway_session_closes_total\{transport="websocket",reason="client-not-reading",condition="resource-constraint"\} 1/)
  client.socket.terminate()
})

t.test('an upstream that stops reading: Causeway stops reading the client, then fails the session', async (t) => {
  const { upstream, cw } = await setup(t)
  const client = await rawClient(cw.wsUrl)
  client.send(OPEN())
  const fake = await upstream.nextOpened()
  await client.waitForMatch(/^<stream:features/)
  fake.socket.pause()

  const stanza = `<message xmlns='jabber:client' to='bob@localhost'><body>${'y'.repeat(8000)}</body></message>`
  let maxBuffered = 0
  for (let i = 0; i < 4000 && client.socket.readyState === client.socket.OPEN; i++) {
    client.send(stanza)
    maxBuffered = Math.max(maxBuffered, client.socket.bufferedAmount)
    if (client.socket.bufferedAmount > 4 * 1024 * 1024) break
    if (i % 50 === 0) await new Promise((r) => setImmediate(r))
  }
  t.ok(maxBuffered > 1024 * 1024, `the client's own send buffer filled (${(maxBuffered / 1024 / 1024).toFixed(1)} MiB): Causeway stopped reading it`)
  await client.closed
  const all = client.messages.join('')
  t.match(all, /<remote-connection-failed xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/><text [^>]*>upstream stopped reading/)
  t.equal(client.messages.at(-1), "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
})

t.test('keepalive: a peer that answers no ping is closed', async (t) => {
  const { cw } = await setup(t, { wsPingIntervalMs: 1000 })
  const silent = await rawClient(cw.wsUrl, ['xmpp'], { autoPong: false })
  const polite = await rawClient(cw.wsUrl)
  const started = Date.now()
  const closed = await silent.closed
  const elapsed = Date.now() - started
  t.ok(elapsed >= 1500 && elapsed < 4000, `closed after ${elapsed} ms (two ping intervals)`)
  t.equal(closed.code, 1006, 'terminated without a closing handshake')
  t.equal(polite.socket.readyState, polite.socket.OPEN, 'a peer that answers pings stays')
  polite.socket.close()
  await eventually(() => cw.causeway.websocket.sessions.size === 0)
  t.match(await cw.causeway.metrics.registry.metrics(), /condition="connection-timeout"\} 1/)
})

t.test('a session that never authenticates ends at the pre-auth deadline', async (t) => {
  const { cw } = await setup(t, { preAuthTimeoutMs: 1000 })
  const client = await rawClient(cw.wsUrl)
  client.send(OPEN())
  await client.waitForMatch(/^<stream:features/)
  const started = Date.now()
  await client.closed
  const elapsed = Date.now() - started
  t.ok(elapsed < 3000, `closed after ${elapsed} ms`)
  t.match(client.messages.join(''), /<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/><text [^>]*>authentication not completed in time/)
})

t.test('a client that sends a lot before the stream opens is not left paused', async (t) => {
  const { upstream, cw } = await setup(t)
  const client = await rawClient(cw.wsUrl)
  client.send(OPEN())
  // Queue more than the high-water mark before the upstream has answered.
  const big = `<message xmlns='jabber:client' to='x@localhost'><body>${'z'.repeat(30_000)}</body></message>`
  for (let i = 0; i < 5; i++) client.send(big)
  const fake = await upstream.nextOpened()
  await client.waitForMatch(/^<stream:features/)
  client.send("<message xmlns='jabber:client' to='x@localhost'><body>after</body></message>")
  const deadline = Date.now() + 3000
  while (!fake.received().includes('<body>after</body>') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  t.match(fake.received(), /<body>after<\/body>/, 'the client was resumed once the early data was flushed')
  t.equal(fake.received().split('z'.repeat(30_000)).length - 1, 5, 'all five early stanzas were relayed')
  client.socket.close()
})

t.test('RFC 7395 §3.6.1: an upstream stream error is forwarded, then <close/>', async (t) => {
  const { upstream, cw } = await setup(t)
  const client = await rawClient(cw.wsUrl)
  client.send(OPEN())
  const fake = await upstream.nextOpened()
  await client.waitForMatch(/^<stream:features/)
  fake.socket.write("<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Replaced by new connection</text></stream:error></stream:stream>")
  const closed = await client.closed
  const tail = client.messages.slice(-2)
  t.equal(
    tail[0],
    '<stream:error xmlns:stream="http://etherx.jabber.org/streams"><conflict xmlns="urn:ietf:params:xml:ns:xmpp-streams"/><text xmlns="urn:ietf:params:xml:ns:xmpp-streams">Replaced by new connection</text></stream:error>',
    'the upstream error, namespaced for standalone use',
  )
  t.equal(tail[1], "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
  t.equal(closed.code, 1000)
  await eventually(() => cw.causeway.websocket.sessions.size === 0)
  t.match(await cw.causeway.metrics.registry.metrics(), /condition="conflict"\} 1/)
})

t.test('an upstream that drops the connection mid-session: remote-connection-failed', async (t) => {
  const { upstream, cw } = await setup(t)
  const client = await rawClient(cw.wsUrl)
  client.send(OPEN())
  const fake = await upstream.nextOpened()
  await client.waitForMatch(/^<stream:features/)
  fake.socket.destroy()
  await client.closed
  t.match(client.messages.at(-2), /<remote-connection-failed xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/)
  t.equal(client.messages.at(-1), "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
})
