/** The cluster options: peers, peerSecret (never shown), shutdownHandoff, seeOtherUri. */
import t from 'tap'
import { ConfigError, loadConfig, makeConfig } from '../../../src/config/index.js'
import { seeOtherUris, webSocketSettings } from '../../../src/config/settings.js'

const SECRET = 'k3p7-this-is-a-long-enough-shared-secret'

function error(fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (e) {
    if (e instanceof ConfigError) return e
    throw e
  }
  throw new Error('no ConfigError')
}

t.test('peers: NODE=URL, normalised to an origin; repeatable flag, comma-separated variable, JSON list', async (t) => {
  const config = loadConfig({ argv: ['--node-id', 'node1', '--peer-secret', SECRET, '--peer', 'node2=http://10.0.0.12:5280/', '--peer', 'node3=HTTPS://Node3.example:443'], env: {} })
  t.same(config.peers, ['node2=http://10.0.0.12:5280', 'node3=https://node3.example'])
  t.same(loadConfig({ argv: [], env: { CAUSEWAY_NODE_ID: 'n1', CAUSEWAY_PEERS: 'n2=http://[::1]:5282,n3=http://127.0.0.1:5283', CAUSEWAY_PEER_SECRET: SECRET } }).peers, ['n2=http://[::1]:5282', 'n3=http://127.0.0.1:5283'])
  for (const bad of ['node2', '=http://x', 'Node2=http://x', 'node2=ftp://x', 'node2=http://x/http-bind', 'node2=http://u:p@x', 'node2=http://x?q', `${'a'.repeat(17)}=http://x`]) {
    t.equal(error(() => makeConfig({ nodeId: 'n1', peerSecret: SECRET, peers: [bad] })).key, 'peers', bad)
  }
})

t.test('peers needs nodeId and peerSecret; the secret is at least 32 characters', async (t) => {
  t.match(error(() => makeConfig({ peers: ['n2=http://x'], peerSecret: SECRET })).message, /^nodeId: must be set when peers is/)
  t.match(error(() => makeConfig({ nodeId: 'n1', peers: ['n2=http://x'] })).message, /^peerSecret: must be set when peers is \(got unset/)
  t.match(error(() => makeConfig({ nodeId: 'n1', peers: ['n2=http://x', 'n2=http://y'], peerSecret: SECRET })).message, /^peers: must name each node once/)
  t.equal(makeConfig({ nodeId: 'n1', peers: ['n1=http://a', 'n2=http://b'], peerSecret: SECRET }).peers.length, 2, 'an entry for the node itself is allowed (one list for every node)')
  t.equal(makeConfig({ peerSecret: SECRET }).peerSecret, SECRET, 'a secret alone is harmless')
})

t.test('peerSecret never appears in a message, wherever it came from', async (t) => {
  const short = 'short-but-secret-value'
  for (const e of [
    error(() => makeConfig({ peerSecret: short })),
    error(() => loadConfig({ argv: ['--peer-secret', short], env: {} })),
    error(() => loadConfig({ argv: [], env: { CAUSEWAY_PEER_SECRET: short } })),
    error(() => loadConfig({ argv: ['--config', '/c.json'], env: {}, readFile: () => JSON.stringify({ peerSecret: short }) })),
    error(() => loadConfig({ argv: ['--config', '/c.json'], env: {}, readFile: () => JSON.stringify({ peerSecret: 42 }) })),
  ]) {
    t.equal(e.key, 'peerSecret')
    t.notMatch(e.message, short, e.message)
  }
  t.match(error(() => makeConfig({ peerSecret: short })).message, /\(hidden, 22 characters\)/)
  t.match(error(() => makeConfig({ peerSecret: ` ${SECRET}` })).message, /without leading or trailing spaces/)
  // A cross-check naming the secret among the other values shows it hidden too.
  const cross = error(() => makeConfig({ nodeId: 'n1', peers: ['n2=http://x', 'n2=http://y'], peerSecret: SECRET }))
  t.notMatch(cross.message, SECRET)
})

t.test('seeOtherUri: the URL prefix becomes the WebSocket and BOSH URLs; no downgrade from TLS', async (t) => {
  t.same(seeOtherUris(makeConfig({ seeOtherUri: 'https://new.example.org/' })), { websocket: 'wss://new.example.org/xmpp-websocket', bosh: 'https://new.example.org/http-bind' })
  t.same(seeOtherUris(makeConfig({ seeOtherUri: 'http://127.0.0.1:6000/xmpp', websocketPath: '/ws', boshPath: '/bosh' })), { websocket: 'ws://127.0.0.1:6000/xmpp/ws', bosh: 'http://127.0.0.1:6000/xmpp/bosh' })
  t.equal(seeOtherUris(makeConfig({})), undefined)
  t.equal(webSocketSettings(makeConfig({ seeOtherUri: 'https://n.example' })).seeOtherUri, 'wss://n.example/xmpp-websocket')
  t.notOk('seeOtherUri' in webSocketSettings(makeConfig({})))
  t.match(error(() => makeConfig({ seeOtherUri: 'http://n.example', publicUrl: 'https://chat.example.org' })).message, /^seeOtherUri: must be https:\/\//)
  t.match(error(() => makeConfig({ seeOtherUri: 'http://n.example', tlsCert: '/c.pem', tlsKey: '/k.pem' })).message, /^seeOtherUri: must be https:\/\//)
  t.equal(makeConfig({ seeOtherUri: 'https://n.example', publicUrl: 'https://chat.example.org' }).seeOtherUri, 'https://n.example')
  t.equal(error(() => makeConfig({ seeOtherUri: 'wss://n.example' })).key, 'seeOtherUri', 'a prefix is http(s); the ws(s) form is derived')
})

t.test('shutdownHandoff: a boolean, off by default', async (t) => {
  t.equal(makeConfig({}).shutdownHandoff, false)
  t.equal(loadConfig({ argv: ['--shutdown-handoff'], env: {} }).shutdownHandoff, true)
  t.equal(loadConfig({ argv: [], env: { CAUSEWAY_SHUTDOWN_HANDOFF: 'true' } }).shutdownHandoff, true)
})
