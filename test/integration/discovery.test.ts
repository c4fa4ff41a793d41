/**
 * XEP-0156: host-meta (XRD and JSON) advertises the BOSH and WebSocket URLs.
 */
import t from 'tap'
import { parse } from 'ltx'
import { makeConfig } from '../../src/config/index.js'
import { createLogger } from '../../src/observability/logger.js'
import { buildServer } from '../../src/server.js'

async function server(overrides: Parameters<typeof makeConfig>[0] = {}) {
  const causeway = await buildServer(makeConfig({ upstream: ['localhost=tcp://127.0.0.1:1'], ...overrides }), { logger: createLogger('silent') })
  return causeway
}

t.test('XEP-0156 §3: host-meta derived from the request', async (t) => {
  const causeway = await server()
  t.teardown(() => causeway.shutdown())
  const xrd = await causeway.app.inject({ method: 'GET', url: '/.well-known/host-meta', headers: { host: 'chat.example.org:5280', origin: 'https://web.example' } })
  t.equal(xrd.statusCode, 200)
  t.equal(xrd.headers['content-type'], 'application/xrd+xml; charset=utf-8')
  t.equal(xrd.headers['access-control-allow-origin'], '*', 'readable cross-origin')
  t.equal(xrd.headers['cache-control'], 'no-store', 'derived from Host: never cached for others')
  const doc = parse(xrd.body.replace(/^<\?xml[^>]*>\s*/, ''))
  t.equal(doc.getNS(), 'http://docs.oasis-open.org/ns/xri/xrd-1.0')
  t.same(
    doc.getChildren('Link').map((l) => [l.attrs.rel, l.attrs.href]),
    [
      ['urn:xmpp:alt-connections:xbosh', 'http://chat.example.org:5280/http-bind'],
      ['urn:xmpp:alt-connections:websocket', 'ws://chat.example.org:5280/xmpp-websocket'],
    ],
  )
  const json = await causeway.app.inject({ method: 'GET', url: '/.well-known/host-meta.json', headers: { host: 'chat.example.org:5280' } })
  t.equal(json.headers['content-type'], 'application/json; charset=utf-8')
  t.same(json.json(), {
    links: [
      { rel: 'urn:xmpp:alt-connections:xbosh', href: 'http://chat.example.org:5280/http-bind' },
      { rel: 'urn:xmpp:alt-connections:websocket', href: 'ws://chat.example.org:5280/xmpp-websocket' },
    ],
  })
  const evil = await causeway.app.inject({ method: 'GET', url: '/.well-known/host-meta', headers: { host: 'evil"><script>' } })
  t.equal(evil.statusCode, 400, 'a malformed Host header is not echoed')
})

t.test('XEP-0156: host-meta from --public-url, behind a TLS proxy with a path prefix', async (t) => {
  const causeway = await server({ publicUrl: 'https://chat.example.org/xmpp/', boshPath: '/bosh', websocketPath: '/ws' })
  t.teardown(() => causeway.shutdown())
  const json = await causeway.app.inject({ method: 'GET', url: '/.well-known/host-meta.json', headers: { host: 'internal:5280' } })
  t.same(json.json().links, [
    { rel: 'urn:xmpp:alt-connections:xbosh', href: 'https://chat.example.org/xmpp/bosh' },
    { rel: 'urn:xmpp:alt-connections:websocket', href: 'wss://chat.example.org/xmpp/ws' },
  ])
  t.equal(json.headers['cache-control'], 'public, max-age=3600')
  t.throws(() => makeConfig({ publicUrl: 'ftp://x' }), /publicUrl: must be empty or an http\(s\) URL/)
})

t.test('XEP-0156 behind a trusted TLS proxy: the links say https and wss', async (t) => {
  const causeway = await server({ trustedProxy: ['127.0.0.1'] })
  t.teardown(() => causeway.shutdown())
  const json = await causeway.app.inject({ method: 'GET', url: '/.well-known/host-meta.json', headers: { host: 'chat.example.org', 'x-forwarded-proto': 'https' } })
  t.same(JSON.parse(json.body).links.map((l: { href: string }) => l.href), ['https://chat.example.org/http-bind', 'wss://chat.example.org/xmpp-websocket'])
  // The same header from a peer that is not a trusted proxy is ignored.
  const untrusting = await server({ trustedProxy: ['10.0.0.0/8'] })
  t.teardown(() => untrusting.shutdown())
  const plain = await untrusting.app.inject({ method: 'GET', url: '/.well-known/host-meta.json', headers: { host: 'chat.example.org', 'x-forwarded-proto': 'https' } })
  t.same(JSON.parse(plain.body).links.map((l: { href: string }) => l.href), ['http://chat.example.org/http-bind', 'ws://chat.example.org/xmpp-websocket'])
})
