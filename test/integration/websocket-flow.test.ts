/**
 * Flow control and liveness over WebSocket with real sockets, against a
 * scriptable upstream: backpressure both ways, and the deadlines wired to
 * the sockets (keepalive, pre-auth, open), driven by a test clock.
 */
import t from 'tap'
import { eventually } from '../helpers/wait.js'
import type { Test } from 'tap'
import { startCauseway } from '../helpers/causeway.js'
import { startFakeUpstream } from '../helpers/fake-upstream.js'
import { OPEN, rawClient } from '../helpers/ws-client.js'
import { ManualClock } from '../support/manual-clock.js'

const HIGH_WATER = 64 * 1024
const DRAIN_TIMEOUT = 1500


async function setup(t: Test, overrides: Record<string, unknown> = {}, clock?: ManualClock) {
  const upstream = await startFakeUpstream()
  t.teardown(() => upstream.close())
  const cw = await startCauseway({
    upstream: [`localhost=tcp://127.0.0.1:${upstream.port}`],
    writeBufferHighWaterBytes: HIGH_WATER,
    drainTimeoutMs: DRAIN_TIMEOUT,
    ...overrides,
  }, clock ? { clock } : {})
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
  await eventually('upstream writes to stall', () => blocked || fake.socket.destroyed, 20_000)
  t.ok(blocked, `upstream writes stalled after ${(written / 1024 / 1024).toFixed(1)} MiB: Causeway stopped reading`)
  const session = [...cw.causeway.websocket.sessions][0]
  t.ok(session, 'the session is still there while within its deadline')

  await closed
  await flood
  const elapsed = Date.now() - started
  // The deadline's exact timing is asserted on the test clock in test/unit/websocket; here, that real backpressure leads to it.
  t.ok(elapsed >= DRAIN_TIMEOUT - 100, `upstream connection dropped after ${elapsed} ms, not before the drain deadline`)
  await eventually('the WebSocket session to end', () => cw.causeway.websocket.sessions.size === 0)
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

// Deadlines run on a test clock: real sockets, no sleeping (their exact timing is in test/unit/websocket).

t.test('RFC 6455 §5.5.2 keepalive over a real socket: a peer that answers no ping is cut off', async (t) => {
  const clock = new ManualClock()
  const { cw } = await setup(t, { wsPingIntervalMs: 30_000, openTimeoutMs: 300_000 }, clock)
  const silent = await rawClient(cw.wsUrl, ['xmpp'], { autoPong: false })
  const pinged = new Promise<void>((resolve) => silent.socket.once('ping', () => resolve()))
  clock.advance(30_000)
  await pinged
  clock.advance(30_000)
  const closed = await silent.closed
  t.equal(closed.code, 1006, 'terminated without a closing handshake')
  await eventually('the WebSocket session to end', () => cw.causeway.websocket.sessions.size === 0)
  t.match(await cw.causeway.metrics.registry.metrics(), /reason="no-pong",condition="connection-timeout"\} 1/)
})

t.test('a session that never authenticates ends at the pre-auth deadline', async (t) => {
  const clock = new ManualClock()
  const { cw } = await setup(t, { preAuthTimeoutMs: 60_000 }, clock)
  const client = await rawClient(cw.wsUrl)
  client.send(OPEN())
  await client.waitForMatch(/^<stream:features/)
  clock.advance(60_000)
  await client.closed
  t.match(client.messages.join(''), /<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/><text [^>]*>authentication not completed in time/)
})

t.test('an upgraded WebSocket that never sends <open/> is closed at openTimeoutMs and gives back its per-address slot', async (t) => {
  const clock = new ManualClock()
  const { cw } = await setup(t, { openTimeoutMs: 10_000, maxSessionsPerIp: 1 }, clock)
  const idle = await rawClient(cw.wsUrl)
  await t.rejects(rawClient(cw.wsUrl), /429/, 'the idle connection holds the one slot')
  clock.advance(10_000)
  const closed = await idle.closed
  t.equal(closed.code, 1000)
  t.match(idle.messages[0], /^<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' version='1.0'\/>$/)
  t.match(idle.messages[1], /<connection-timeout xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/)
  t.equal(idle.messages[2], "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
  await eventually('the session to end', () => cw.causeway.websocket.sessions.size === 0)
  const next = await rawClient(cw.wsUrl)
  t.equal(next.socket.readyState, next.socket.OPEN, 'the slot is free again')
  next.socket.close()
  t.match(await cw.causeway.metrics.registry.metrics(), /reason="open-timeout",condition="connection-timeout"\} 1/)
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
  await eventually('the stanza sent after the stream opened to reach upstream', () => fake.received().includes('<body>after</body>'))
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
  t.equal(client.binaryFrames(), 0, 'RFC 7395 §3.2: every frame was a text frame')
  await eventually('the WebSocket session to end', () => cw.causeway.websocket.sessions.size === 0)
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

t.test('RFC 7395 §3.2, §3.3.3: stanzas cross byte for byte in text frames, the namespace they inherited declared', async (t) => {
  const { upstream, cw } = await setup(t)
  const client = await rawClient(cw.wsUrl)
  client.send(OPEN())
  const fake = await upstream.nextOpened()
  await client.waitForMatch(/^<stream:features/)
  fake.socket.write(`<message from='a@localhost' type='chat'><body>h&#xe9; &amp; &lt;3 ☃</body></message>`)
  const relayed = await client.waitForMatch(/^<message/)
  t.equal(relayed, `<message xmlns='jabber:client' from='a@localhost' type='chat'><body>h&#xe9; &amp; &lt;3 ☃</body></message>`)
  client.send(`<message xmlns='jabber:client' to='a@localhost' id='x'><body>back &#x2603;</body></message>`)
  await eventually('the client stanza upstream', () => fake.received().includes(`<message xmlns='jabber:client' to='a@localhost' id='x'><body>back &#x2603;</body></message>`))
  t.equal(client.binaryFrames(), 0, 'every frame was a text frame')
  client.socket.close()
})
