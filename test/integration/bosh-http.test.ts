/**
 * BOSH HTTP details through fastify injection (XEP-0124 §5, §17.1) and
 * hostile bodies against a live session (each answered as specified while
 * another session keeps working).
 */
import t from 'tap'
import { makeConfig } from '../../src/config/index.js'
import { createLogger } from '../../src/observability/logger.js'
import { buildServer } from '../../src/server.js'
import { startProsody } from '../helpers/prosody.js'
import { startCauseway } from '../helpers/causeway.js'
import { connectStrophe } from '../helpers/strophe-client.js'
import { rawClient } from '../helpers/ws-client.js'

const NS = "xmlns='http://jabber.org/protocol/httpbind'"
const create = (attrs: string) => `<body ${NS} xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0' ${attrs}/>`

t.test('HTTP surface (fastify injection, no upstream needed)', async (t) => {
  const config = makeConfig({ upstream: ['localhost=tcp://127.0.0.1:1'], allowedOrigin: ['https://chat.example'], boshMaxBodyBytes: 20_000, maxStanzaBytes: 10_000, maxAttributeValueBytes: 4096, upstreamConnectTimeoutMs: 1000 })
  const causeway = await buildServer(config, { logger: createLogger('silent') })
  t.teardown(() => causeway.shutdown())
  const app = causeway.app

  t.test('GET returns a short page naming the endpoint and version', async (t) => {
    const response = await app.inject({ method: 'GET', url: '/http-bind' })
    t.equal(response.statusCode, 200)
    t.match(response.headers['content-type'], /text\/html/)
    t.match(response.body, /BOSH endpoint/)
    t.match(response.body, /Causeway \d+\.\d+\.\d+/)
    t.equal((await app.inject({ method: 'GET', url: '/http-bind/' })).statusCode, 200, '/http-bind/ too')
  })

  t.test('CORS preflight for an allowed origin', async (t) => {
    const response = await app.inject({ method: 'OPTIONS', url: '/http-bind', headers: { origin: 'https://chat.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
    t.equal(response.statusCode, 204)
    t.equal(response.headers['access-control-allow-origin'], 'https://chat.example', 'the origin is echoed')
    t.match(String(response.headers.vary), /Origin/)
    t.match(String(response.headers['access-control-allow-headers']), /Content-Type/i)
    t.match(String(response.headers['access-control-allow-methods']), /POST/)
    t.equal(response.headers['access-control-max-age'], '86400')
    t.equal(response.headers['access-control-allow-credentials'], undefined, 'no credentials unless configured')
  })

  t.test('a disallowed origin is refused before any session exists', async (t) => {
    const preflight = await app.inject({ method: 'OPTIONS', url: '/http-bind', headers: { origin: 'https://evil.example' } })
    t.equal(preflight.statusCode, 403)
    t.equal(preflight.headers['access-control-allow-origin'], undefined)
    const post = await app.inject({ method: 'POST', url: '/http-bind', headers: { origin: 'https://evil.example' }, payload: create("rid='1' to='localhost' wait='5' hold='1' ver='1.6'") })
    t.equal(post.statusCode, 403)
    t.equal(causeway.bosh.registry.size, 0)
  })

  t.test('any content type is read as XML; responses are text/xml; charset=utf-8', async (t) => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'text/xml; charset=utf-8', undefined]) {
      const response = await app.inject({
        method: 'POST',
        url: '/http-bind',
        headers: { origin: 'https://chat.example', ...(type ? { 'content-type': type } : {}) },
        payload: create("rid='10' to='nowhere.example' wait='5' hold='1' ver='1.6'"),
      })
      t.equal(response.statusCode, 200, `${type ?? 'no content type'}: 200`)
      t.equal(response.headers['content-type'], 'text/xml; charset=utf-8')
      t.equal(response.headers['access-control-allow-origin'], 'https://chat.example')
      t.equal(response.body, `<body ${NS} type='terminate' condition='host-unknown'/>`, 'parsed: an unrouted domain is host-unknown')
    }
  })

  t.test('XEP-0124 §17.2 conditions on the wire', async (t) => {
    const post = async (payload: string) => (await app.inject({ method: 'POST', url: '/http-bind', payload })).body
    t.equal(await post(create("rid='10' wait='5' hold='1' ver='1.6'")), `<body ${NS} type='terminate' condition='improper-addressing'/>`, 'no to')
    t.equal(await post(`<body ${NS} rid='11' sid='no-such-session'/>`), `<body ${NS} type='terminate' condition='item-not-found'/>`, 'unknown sid')
    t.equal(await post('<body><unclosed>'), `<body ${NS} type='terminate' condition='bad-request'/>`, 'malformed body')
    t.equal(await post(`<!DOCTYPE body><body ${NS} rid='1' to='localhost'/>`), `<body ${NS} type='terminate' condition='bad-request'/>`, 'DOCTYPE')
    t.equal(await post(create("rid='10' to='localhost' route='xmpp:evil.example:5222' wait='5' hold='1' ver='1.6'")), `<body ${NS} type='terminate' condition='host-unknown'/>`, 'a route that disagrees with configuration')
    t.equal(await post(create(`rid='10' to='localhost' wait='5' hold='1' ver='1.6'`)), `<body ${NS} type='terminate' condition='remote-connection-failed'/>`, 'upstream refused')
  })

  t.test('XEP-0124 §17.1: clients without ver get legacy HTTP status codes', async (t) => {
    const unknown = await app.inject({ method: 'POST', url: '/http-bind', payload: `<body ${NS} rid='11' sid='no-such-session'/>` })
    t.equal(unknown.statusCode, 200, 'an unknown sid cannot tell a legacy client: body form')
    // One WebSocket session takes the only slot for this address (the caps are shared).
    const small = await startCauseway({ upstream: ['localhost=tcp://127.0.0.1:1'], maxSessionsPerIp: 1 })
    t.teardown(() => small.stop())
    const ws = await rawClient(small.wsUrl)
    t.teardown(() => ws.socket.terminate())
    const post = (payload: string) => fetch(small.boshUrl, { method: 'POST', body: payload })
    const legacy = await post(create("rid='10' to='localhost' wait='5' hold='1'"))
    t.equal(legacy.status, 403, 'policy-violation → 403 for a client that sent no ver')
    t.equal(await legacy.text(), '', 'with no body')
    const modern = await post(create("rid='10' to='localhost' wait='5' hold='1' ver='1.11'"))
    t.equal(modern.status, 200)
    t.equal(await modern.text(), `<body ${NS} type='terminate' condition='policy-violation'/>`, 'and a terminate body for one that did')
  })

  t.test('the body size limit is enforced before parsing', async (t) => {
    const response = await app.inject({ method: 'POST', url: '/http-bind', payload: create(`rid='10' to='localhost' ver='1.6' pad='${'x'.repeat(30_000)}'`) })
    t.equal(response.statusCode, 200)
    t.equal(response.body, `<body ${NS} type='terminate' condition='policy-violation'/>`)
    t.match(await causeway.metrics.registry.metrics(), /causeway_refusals_total\{transport="bosh",reason="body-too-large"\} 1/)
  })
})

t.test('hostile bodies against live sessions', async (t) => {
  const prosody = await startProsody({ users: [{ username: 'hank', password: 'pw-h' }, { username: 'ivy', password: 'pw-i' }] })
  t.teardown(() => prosody.stop())
  const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`] })
  t.teardown(() => cw.stop())
  const ivy = await connectStrophe(cw.boshUrl, 'ivy@localhost/ok', 'pw-i')
  t.teardown(() => ivy.disconnect())

  const post = async (payload: string) => {
    const response = await fetch(cw.boshUrl, { method: 'POST', body: payload })
    return response.text()
  }
  /** A fresh raw session; returns its sid and next rid. */
  const open = async () => {
    const body = await post(create("rid='1000' to='localhost' wait='5' hold='1' ver='1.6'"))
    const sid = /sid='([^']+)'/.exec(body)?.[1]
    t.ok(sid, 'session created')
    return { sid: sid ?? '', rid: 1001 }
  }
  const terminated = (condition: string) => `<body ${NS} type='terminate' condition='${condition}'/>`

  // A body too broken to read names no session: it is refused, and the session it
  // meant to reach is untouched (the same rid still works). A readable body that
  // breaks the rules ends its session.
  const cases: Array<[string, (sid: string, rid: number) => string, string, 'untouched' | 'ended']> = [
    ['DOCTYPE', (sid, rid) => `<!DOCTYPE body [<!ENTITY x 'y'>]><body ${NS} sid='${sid}' rid='${rid}'/>`, 'bad-request', 'untouched'],
    ['unknown entity', (sid, rid) => `<body ${NS} sid='${sid}' rid='${rid}'><message xmlns='jabber:client'><body>&xxe;</body></message></body>`, 'bad-request', 'untouched'],
    ['deep nesting', (sid, rid) => `<body ${NS} sid='${sid}' rid='${rid}'>${'<a>'.repeat(10_000)}${'</a>'.repeat(10_000)}</body>`, 'policy-violation', 'untouched'],
    ['rid far ahead', (sid, rid) => `<body ${NS} sid='${sid}' rid='${rid + 1000}'/>`, 'item-not-found', 'ended'],
  ]
  for (const [name, body, condition, fate] of cases) {
    t.test(`${name} → ${condition}`, async (t) => {
      const { sid, rid } = await open()
      t.equal(await post(body(sid, rid)), terminated(condition))
      const after = await post(`<body ${NS} sid='${sid}' rid='${rid}' type='terminate'/>`)
      if (fate === 'ended') t.equal(after, terminated('item-not-found'), 'the session is gone for good')
      else t.equal(after, `<body ${NS} type='terminate'/>`, 'the session was untouched and ends cleanly')
    })
  }

  t.test('a wrong sid → item-not-found', async (t) => {
    t.equal(await post(`<body ${NS} sid='AAAAAAAAAAAAAAAAAAAAAAAA' rid='5'/>`), terminated('item-not-found'))
  })

  t.test('too many concurrent requests → policy-violation (XEP-0124 §11)', async (t) => {
    const { sid, rid } = await open()
    // requests=2, hold=1: a third simultaneous request is overactivity.
    const answers = await Promise.all([0, 1, 2].map((i) => post(`<body ${NS} sid='${sid}' rid='${rid + i}'/>`)))
    t.ok(answers.some((a) => a.includes("condition='policy-violation'")), `answers: ${answers.join(' | ')}`)
  })

  t.test('the other session kept working throughout', async (t) => {
    const echo = await new Promise<Element>((resolve, reject) => {
      ivy.connection.sendIQ(
        new DOMParser().parseFromString("<iq xmlns='jabber:client' type='get' to='localhost' id='still-there'><ping xmlns='urn:xmpp:ping'/></iq>", 'text/xml').documentElement as unknown as Element,
        resolve,
        reject,
        5000,
      )
    })
    t.equal(echo.getAttribute('type'), 'result')
  })
})

t.test('an upstream that stops reading ends the BOSH session with remote-connection-failed', async (t) => {
  const { startFakeUpstream } = await import('../helpers/fake-upstream.js')
  const upstream = await startFakeUpstream()
  t.teardown(() => upstream.close())
  const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${upstream.port}`], writeBufferHighWaterBytes: 64 * 1024 })
  t.teardown(() => cw.stop())
  const post = (payload: string) => fetch(cw.boshUrl, { method: 'POST', body: payload }).then((r) => r.text())
  const created = await post(create("rid='500' to='localhost' wait='10' hold='1' ver='1.11'"))
  const sid = /sid='([^']+)'/.exec(created)?.[1] ?? ''
  t.ok(sid, 'session created against the scriptable upstream')
  const fake = upstream.connections[0]
  fake?.socket.pause()
  const stanza = `<message xmlns='jabber:client' to='x@localhost'><body>${'p'.repeat(200_000)}</body></message>`
  let previous = post(`<body ${NS} sid='${sid}' rid='501'>${stanza}</body>`)
  let last = ''
  for (let rid = 502; rid < 700; rid++) {
    const current = post(`<body ${NS} sid='${sid}' rid='${rid}'>${stanza}</body>`)
    last = await previous
    if (last.includes("type='terminate'")) break
    previous = current
  }
  t.equal(last, `<body ${NS} type='terminate' condition='remote-connection-failed'/>`, 'the session ended with remote-connection-failed')
  await new Promise((r) => setTimeout(r, 50))
  t.match(await cw.causeway.metrics.registry.metrics(), /causeway_session_closes_total\{transport="bosh",reason="upstream-failed",condition="remote-connection-failed"\} 1/)
})

t.test('timeouts: a slow body is cut within seconds, a held request is not', async (t) => {
  const net = await import('node:net')
  const prosody = await startProsody({ users: [{ username: 'jo', password: 'pw' }] })
  t.teardown(() => prosody.stop())
  const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`] })
  t.teardown(() => cw.stop())
  const created = await (await fetch(cw.boshUrl, { method: 'POST', body: create("rid='10' to='localhost' wait='12' hold='1' ver='1.11'") })).text()
  const sid = /sid='([^']+)'/.exec(created)?.[1]
  const started = Date.now()
  const held = fetch(cw.boshUrl, { method: 'POST', body: `<body ${NS} sid='${sid}' rid='11'/>` }).then(async (r) => ({ body: await r.text(), ms: Date.now() - started }))

  const slow = await new Promise<{ reply: string; ms: number }>((resolve) => {
    const socket = net.connect(cw.port, '127.0.0.1', () => {
      socket.write(`POST /http-bind HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\nContent-Length: 200\r\n\r\n<body ${NS} `)
    })
    let reply = ''
    socket.on('data', (d) => (reply += d.toString()))
    socket.on('error', () => {})
    socket.on('close', () => resolve({ reply, ms: Date.now() - started }))
  })
  t.ok(slow.ms < 15_000, `the slow-body connection was cut after ${slow.ms} ms`)
  t.match(slow.reply, /^HTTP\/1\.1 408/, 'with 408 Request Timeout')
  const answer = await held
  t.equal(answer.body, `<body ${NS}/>`, 'the held request got its empty body at wait expiry')
  t.ok(answer.ms >= 11_500, `after ${answer.ms} ms: not cut by the server's own timeouts`)
})
