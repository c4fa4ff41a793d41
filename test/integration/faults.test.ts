/**
 * Faults and hostile load: an upstream that goes away mid-session, invalid
 * UTF-8 on the wire, and event-loop lag while hostile input is refused.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import t from 'tap'
import { startProsody } from '../helpers/prosody.js'
import { startCauseway } from '../helpers/causeway.js'
import { connectStrophe } from '../helpers/strophe-client.js'
import { OPEN, rawClient } from '../helpers/ws-client.js'
import { openHeldSession } from '../helpers/bosh-raw.js'

const NS = "xmlns='http://jabber.org/protocol/httpbind'"

t.test('the upstream server goes away mid-session', async (t) => {
  const prosody = await startProsody({ users: [{ username: 'max', password: 'pw-m' }] })
  t.teardown(() => prosody.stop())
  const other = await startProsody({ users: [{ username: 'ned', password: 'pw-n' }], domain: 'other.example' })
  t.teardown(() => other.stop())
  const cw = await startCauseway({
    upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`, `other.example=tcp://127.0.0.1:${other.c2sPort}`],
  })
  t.teardown(() => cw.stop())

  const ws = await rawClient(cw.wsUrl)
  ws.send(OPEN())
  await ws.waitForMatch(/^<stream:features/)
  const { held } = await openHeldSession(cw.boshUrl)
  const bystander = await connectStrophe(cw.boshUrl, 'ned@other.example/bosh', 'pw-n')
  t.teardown(() => bystander.disconnect())

  const started = Date.now()
  await prosody.stop()
  const closed = await ws.closed
  // A stopping Prosody says so with a stream error, which is forwarded as is.
  t.match(ws.messages.at(-2), /^<stream:error xmlns:stream="http:\/\/etherx.jabber.org\/streams"><system-shutdown xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>/, 'the WebSocket client gets the server\'s own stream error')
  t.equal(ws.messages.at(-1), "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
  t.equal(closed.code, 1000)
  t.match(await held, /^<body xmlns='http:\/\/jabber.org\/protocol\/httpbind' xmlns:stream='http:\/\/etherx.jabber.org\/streams' type='terminate' condition='remote-stream-error'><stream:error><system-shutdown /, 'the held BOSH request gets remote-stream-error with it inside')
  t.ok(Date.now() - started < 5000, `promptly (${Date.now() - started} ms)`)

  const pong = await new Promise<Element>((resolve, reject) => {
    const iq = new DOMParser().parseFromString("<iq xmlns='jabber:client' type='get' to='other.example' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>", 'text/xml').documentElement as unknown as Element
    bystander.connection.sendIQ(iq, resolve, reject, 5000)
  })
  t.equal(pong.getAttribute('type'), 'result', 'a session on another upstream is unaffected')
  t.equal(cw.causeway.websocket.sessions.size, 0)
  t.equal(cw.causeway.bosh.registry.size, 1, 'only the bystander is left')
})

t.test('invalid UTF-8 in a text frame is refused by the WebSocket layer (1007)', async (t) => {
  const cw = await startCauseway({ upstream: ['localhost=tcp://127.0.0.1:1'] })
  t.teardown(() => cw.stop())
  const client = await rawClient(cw.wsUrl)
  client.socket.send(Buffer.from([0x3c, 0x61, 0xff, 0x2f, 0x3e]), { binary: false })
  const closed = await client.closed
  t.equal(closed.code, 1007, 'RFC 6455 §8.1: invalid frame payload data')
})

t.test('event-loop lag stays small while hostile input is refused', async (t) => {
  const prosody = await startProsody({ users: [] })
  t.teardown(() => prosody.stop())
  const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`], logLevel: 'warn' })
  t.teardown(() => cw.stop())
  const lag = monitorEventLoopDelay({ resolution: 10 })
  lag.enable()
  const payloads = [
    "<message xmlns='jabber:client'>" + '<a>'.repeat(60_000),
    `<message xmlns='jabber:client'><body>${'&amp;'.repeat(50_000)}</body></message>`,
    `<message xmlns='jabber:client' to='${'x'.repeat(200_000)}'/>`,
    "<!DOCTYPE lol [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;&lol;'>]><message xmlns='jabber:client'>&lol2;</message>",
  ]
  for (let round = 0; round < 10; round++) {
    await Promise.all(
      payloads.map(async (payload) => {
        const client = await rawClient(cw.wsUrl)
        client.send(OPEN())
        await client.waitForMatch(/^<stream:features/)
        client.send(payload)
        await client.closed
      }),
    )
  }
  lag.disable()
  const p50 = lag.percentile(50) / 1e6
  const p99 = lag.percentile(99) / 1e6
  const max = lag.max / 1e6
  // Generous bounds for a shared 2-core machine; a quadratic path would take seconds.
  t.comment(`event-loop delay p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${max.toFixed(1)} ms`)
  t.ok(p50 < 50, `median event-loop delay ${p50.toFixed(1)} ms`)
  t.ok(p99 < 250, `p99 event-loop delay ${p99.toFixed(1)} ms`)
  t.ok(max < 1000, `max event-loop delay ${max.toFixed(1)} ms`)
  const client = await rawClient(cw.wsUrl)
  client.send(OPEN())
  t.match(await client.waitForMatch(/^<stream:features/), /mechanisms/, 'and a new session is still served')
  client.socket.close()
})

t.test('an upstream that dies without a word: remote-connection-failed on both transports', async (t) => {
  const prosody = await startProsody({ users: [] })
  t.teardown(() => prosody.stop())
  const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`] })
  t.teardown(() => cw.stop())
  const ws = await rawClient(cw.wsUrl)
  ws.send(OPEN())
  await ws.waitForMatch(/^<stream:features/)
  const { held } = await openHeldSession(cw.boshUrl)
  await prosody.kill()
  await ws.closed
  t.match(ws.messages.at(-2), /<remote-connection-failed xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/)
  t.equal(await held, `<body ${NS} type='terminate' condition='remote-connection-failed'/>`)
})

t.test('idle connections and slow headers are cut within seconds', async (t) => {
  const net = await import('node:net')
  const cw = await startCauseway({ upstream: ['localhost=tcp://127.0.0.1:1'] })
  t.teardown(() => cw.stop())
  const started = Date.now()
  const probe = (first?: string) =>
    new Promise<{ ms: number; reply: string }>((resolve) => {
      const socket = net.connect(cw.port, '127.0.0.1', () => {
        if (first) socket.write(first)
      })
      let reply = ''
      socket.on('data', (d) => (reply += d.toString()))
      socket.on('error', () => {})
      socket.on('close', () => resolve({ ms: Date.now() - started, reply }))
    })
  const [idle, slow] = await Promise.all([probe(), probe('POST /http-bind HTTP/1.1\r\nHost: 127.0.0.1\r\n')])
  for (const [name, result] of [['an idle connection', idle], ['slow headers', slow]] as const) {
    t.ok(result.ms < 16_000, `${name} was cut after ${result.ms} ms`)
    t.match(result.reply, /^HTTP\/1\.1 408 /, `${name}: 408 Request Timeout`)
  }
})
