/**
 * The forwarding proof (src/cluster/peer-proof.ts): what verifies, what is
 * refused and why, and what is merely ignored. Time from a manual wall clock.
 */
import t from 'tap'
import { MAX_PROOF_SKEW_MS, PeerProof } from '../../../src/cluster/peer-proof.js'
import type { ProvenRequest } from '../../../src/cluster/peer-proof.js'

const SECRET = 'correct horse battery staple, 32+ characters'
const T0 = 1_765_000_000_000
let now = T0
const wall = () => now
const node1 = new PeerProof(SECRET, 'node1', wall)
const node2 = new PeerProof(SECRET, 'node2', wall)
const request: ProvenRequest = { method: 'POST', path: '/http-bind', origin: 'https://chat.example.org', body: Buffer.from("<body rid='2' sid='node2.x' xmlns='http://jabber.org/protocol/httpbind'/>") }
const client = { address: '203.0.113.9', secure: true }

t.beforeEach(() => {
  now = T0
})

t.test('a proof made by one node verifies at the node it names, with the client facts', async (t) => {
  const header = node1.sign('node2', client, request)
  t.match(header, /^v1;by=node1;to=node2;at=1765000000000;for=203\.0\.113\.9;tls=1;mac=[A-Za-z0-9_-]{43}$/)
  t.notMatch(header, SECRET, 'the secret is not in it')
  t.same(node2.verify(header, request), { kind: 'proven', by: 'node1', client })
  const v6 = node1.sign('node2', { address: '2001:db8::7', secure: false }, request)
  t.same(node2.verify(v6, request), { kind: 'proven', by: 'node1', client: { address: '2001:db8::7', secure: false } })
})

t.test('no header: absent; a header without mac (forged facts): unproven, i.e. ignored', async (t) => {
  t.same(node2.verify(undefined, request), { kind: 'absent' })
  t.same(node2.verify('v1;by=node1;to=node2;for=198.51.100.1;tls=1', request), { kind: 'unproven' })
  t.same(node2.verify('for=198.51.100.1', request), { kind: 'unproven' })
  t.same(node2.verify('', request), { kind: 'unproven' })
})

t.test('refused: a wrong secret, another receiver, a changed body, path, Origin or fact', async (t) => {
  const header = node1.sign('node2', client, request)
  const wrong = new PeerProof('another secret of at least 32 characters!', 'node1', wall).sign('node2', client, request)
  t.same(node2.verify(wrong, request), { kind: 'refused', reason: 'bad-mac' }, 'wrong secret')
  const node3 = new PeerProof(SECRET, 'node3', wall)
  t.same(node3.verify(header, request), { kind: 'refused', reason: 'wrong-node' }, 'a proof for node2 is no good at node3')
  t.same(node1.verify(header, request), { kind: 'refused', reason: 'wrong-node' }, 'nor back at its sender')
  t.same(node2.verify(header, { ...request, body: Buffer.from(request.body.toString().replace("rid='2'", "rid='3'")) }), { kind: 'refused', reason: 'bad-mac' }, 'body changed')
  t.same(node2.verify(header, { ...request, path: '/http-bind/' }), { kind: 'refused', reason: 'bad-mac' }, 'path changed')
  t.same(node2.verify(header, { ...request, origin: 'https://evil.example' }), { kind: 'refused', reason: 'bad-mac' }, 'Origin changed')
  t.same(node2.verify(header, { ...request, origin: undefined }), { kind: 'refused', reason: 'bad-mac' }, 'Origin removed')
  t.same(node2.verify(header.replace('for=203.0.113.9', 'for=203.0.113.10'), request), { kind: 'refused', reason: 'bad-mac' }, 'address changed')
  t.same(node2.verify(header.replace('tls=1', 'tls=0'), request), { kind: 'refused', reason: 'bad-mac' }, 'scheme changed')
  t.same(node2.verify(header.replace('by=node1', 'by=node4'), request), { kind: 'refused', reason: 'bad-mac' }, 'sender changed')
})

t.test(`refused: a proof more than ${MAX_PROOF_SKEW_MS} ms from the receiver's clock, either way`, async (t) => {
  const header = node1.sign('node2', client, request)
  now = T0 + MAX_PROOF_SKEW_MS
  t.equal(node2.verify(header, request).kind, 'proven', 'at the edge of the window')
  now = T0 + MAX_PROOF_SKEW_MS + 1
  t.same(node2.verify(header, request), { kind: 'refused', reason: 'stale' })
  now = T0 - MAX_PROOF_SKEW_MS - 1
  t.same(node2.verify(header, request), { kind: 'refused', reason: 'stale' }, 'from the future')
})

t.test('refused as malformed: anything with a mac that is not a clean v1 proof', async (t) => {
  const header = node1.sign('node2', client, request)
  const cases: Array<[string, string]> = [
    [header.replace('v1;', 'v2;'), 'another version'],
    [header.replace('for=203.0.113.9', 'for=::ffff:203.0.113.9'), 'a non-canonical address'],
    [header.replace('for=203.0.113.9', 'for=evil.example'), 'not an address'],
    [header.replace('tls=1', 'tls=yes'), 'tls not 0/1'],
    [header.replace('at=1765000000000', 'at=soon'), 'time not a number'],
    [header.replace(/mac=.*/, 'mac=short'), 'a short mac'],
    [header.replace('to=node2', 'to=Node2'), 'a label outside [a-z0-9-]'],
    [`${header};mac=AAAA`, 'two macs'],
    [[header, header].join(', '), 'the header twice'],
  ]
  for (const [value, what] of cases) t.same(node2.verify(value, request), { kind: 'refused', reason: 'malformed' }, what)
  t.same(node2.verify([header, header], request).kind, 'refused', 'an array of two copies')
})
