/** Which requests travel between nodes (src/cluster/peers.ts). */
import t from 'tap'
import { forwardDecision, PeerTable, sidLabel } from '../../../src/cluster/peers.js'

const peers = new PeerTable('node1', ['node1=http://127.0.0.1:5281', 'node2=http://127.0.0.1:5282', 'node3=https://10.0.0.13:5280'])

t.test('the label is the part of the sid before the first dot', async (t) => {
  t.equal(sidLabel('node2.3q2K-x_y'), 'node2')
  t.equal(sidLabel('node2.a.b'), 'node2')
  t.equal(sidLabel('3q2K'), undefined, 'a sid without a label')
  t.equal(sidLabel('.x'), undefined)
  t.equal(sidLabel('NODE2.x'), undefined, 'labels are lower case')
  t.equal(sidLabel(`${'a'.repeat(17)}.x`), undefined, 'at most 16 characters')
})

t.test('the table leaves out this node’s own entry', async (t) => {
  t.same(peers.all.map((p) => p.label), ['node2', 'node3'])
  t.same(peers.get('node3'), { label: 'node3', origin: 'https://10.0.0.13:5280' })
  t.equal(peers.get('node1'), undefined)
})

t.test('forward only a session request whose label names a peer, and never a forwarded one', async (t) => {
  t.same(forwardDecision(peers, 'node2.x', false), { kind: 'forward', peer: { label: 'node2', origin: 'http://127.0.0.1:5282' } })
  t.same(forwardDecision(peers, 'node3.x', false).kind, 'forward')
  t.same(forwardDecision(peers, 'node2.x', true), { kind: 'local' }, 'a request a peer forwarded is served here, whatever its label')
  t.same(forwardDecision(peers, undefined, false), { kind: 'local' }, 'a creation (no sid) is never forwarded')
  t.same(forwardDecision(peers, 'node1.x', false), { kind: 'local' }, 'our own label')
  t.same(forwardDecision(peers, 'node9.x', false), { kind: 'local' }, 'an unknown label: the registry answers item-not-found')
  t.same(forwardDecision(peers, 'nolabel', false), { kind: 'local' })
})
