/**
 * Who the client is behind reverse proxies: forwarding headers are believed
 * only from trusted peers, walked right to left, and never past the first
 * untrusted address.
 */
import t from 'tap'
import { ClientAddressPolicy, parseForwarded } from '../../src/edge/client-address.js'

const PROXY = '10.0.0.5'
const xff = new ClientAddressPolicy(['10.0.0.0/24', '192.0.2.10', 'fd00::/8'])
const rfc7239 = new ClientAddressPolicy(['10.0.0.0/24', '192.0.2.10', 'fd00::/8'], 'forwarded')

t.test('without trusted proxies every header is ignored', async (t) => {
  const none = new ClientAddressPolicy([])
  t.same(none.resolve('10.0.0.5', { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' }, false), { address: '10.0.0.5', secure: false })
  t.same(none.resolve('::ffff:127.0.0.1', {}, true), { address: '127.0.0.1', secure: true }, 'IPv4-mapped peers are reported as IPv4')
})

t.test('an untrusted peer cannot claim another address or scheme', async (t) => {
  const headers = { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https', forwarded: 'for=203.0.113.9;proto=https' }
  t.same(xff.resolve('198.51.100.7', headers, false), { address: '198.51.100.7', secure: false })
  t.same(rfc7239.resolve('198.51.100.7', headers, false), { address: '198.51.100.7', secure: false })
})

t.test('X-Forwarded-For from a trusted proxy', async (t) => {
  t.same(xff.resolve(PROXY, { 'x-forwarded-for': '203.0.113.9' }, false), { address: '203.0.113.9', secure: false })
  t.same(xff.resolve(PROXY, { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' }, false), { address: '203.0.113.9', secure: true })
  t.same(xff.resolve(PROXY, {}, false), { address: PROXY, secure: false }, 'no header: the proxy itself')
  t.same(xff.resolve('::ffff:10.0.0.5', { 'x-forwarded-for': '203.0.113.9' }, false).address, '203.0.113.9', 'mapped peer address is matched as IPv4')
})

t.test('the walk stops at the first untrusted address from the right', async (t) => {
  // A client wrote "6.6.6.6" itself; the proxy appended what it saw.
  t.equal(xff.resolve(PROXY, { 'x-forwarded-for': '6.6.6.6, 203.0.113.9' }, false).address, '203.0.113.9')
  // Two trusted hops in front of Causeway.
  t.equal(xff.resolve(PROXY, { 'x-forwarded-for': '6.6.6.6, 203.0.113.9, 192.0.2.10' }, false).address, '203.0.113.9')
  // Only trusted hops: the left-most is as close to the client as we get.
  t.equal(xff.resolve(PROXY, { 'x-forwarded-for': '10.0.0.9, 192.0.2.10' }, false).address, '10.0.0.9')
  // Repeated header lines arrive joined.
  t.equal(xff.resolve(PROXY, { 'x-forwarded-for': ['6.6.6.6', '203.0.113.9'] as unknown as string }, false).address, '203.0.113.9')
})

t.test('unreadable entries end the chain at the nearest known address', async (t) => {
  t.equal(xff.resolve(PROXY, { 'x-forwarded-for': '203.0.113.9, not-an-ip' }, false).address, PROXY)
  t.equal(xff.resolve(PROXY, { 'x-forwarded-for': '203.0.113.9, , 192.0.2.10' }, false).address, '192.0.2.10')
  t.equal(xff.resolve(PROXY, { 'x-forwarded-for': '' }, false).address, PROXY)
})

t.test('ports and IPv6 spellings in X-Forwarded-For', async (t) => {
  t.equal(xff.resolve(PROXY, { 'x-forwarded-for': '203.0.113.9:51234' }, false).address, '203.0.113.9')
  t.equal(xff.resolve(PROXY, { 'x-forwarded-for': '[2001:DB8::1]:443' }, false).address, '2001:db8::1')
  t.equal(xff.resolve(PROXY, { 'x-forwarded-for': '2001:db8::1' }, false).address, '2001:db8::1')
  t.equal(xff.resolve('fd00::1', { 'x-forwarded-for': '203.0.113.9' }, false).address, '203.0.113.9', 'IPv6 CIDR trusted')
  t.equal(xff.resolve('fe80::1', { 'x-forwarded-for': '203.0.113.9' }, false).address, 'fe80::1', 'outside the IPv6 CIDR')
})

t.test('X-Forwarded-Proto: the nearest proxy’s value counts', async (t) => {
  t.equal(xff.resolve(PROXY, { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'http, https' }, false).secure, true)
  t.equal(xff.resolve(PROXY, { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https, http' }, true).secure, false)
  t.equal(xff.resolve(PROXY, { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'HTTPS' }, false).secure, true)
  t.equal(xff.resolve(PROXY, { 'x-forwarded-for': '203.0.113.9' }, true).secure, true, 'no header: the socket decides')
})

t.test('RFC 7239 Forwarded from a trusted proxy', async (t) => {
  t.same(rfc7239.resolve(PROXY, { forwarded: 'for=203.0.113.9;proto=https' }, false), { address: '203.0.113.9', secure: true })
  t.same(rfc7239.resolve(PROXY, { forwarded: 'for="[2001:db8:cafe::17]:4711";proto=http' }, true), { address: '2001:db8:cafe::17', secure: false })
  t.same(rfc7239.resolve(PROXY, { forwarded: 'for=6.6.6.6;proto=https, for=203.0.113.9' }, false), { address: '203.0.113.9', secure: false }, 'proto of the chosen element only')
  t.same(
    rfc7239.resolve(PROXY, { forwarded: 'for=203.0.113.9;proto=https, for=192.0.2.10;proto=http' }, false),
    { address: '203.0.113.9', secure: true },
    'through two trusted hops: the client-facing proxy’s proto',
  )
  t.equal(rfc7239.resolve(PROXY, { forwarded: 'For="203.0.113.9:80";By=10.0.0.5' }, false).address, '203.0.113.9', 'names are case-insensitive')
  t.equal(rfc7239.resolve(PROXY, { forwarded: 'for=unknown' }, false).address, PROXY, '"unknown" ends the chain')
  t.equal(rfc7239.resolve(PROXY, { forwarded: 'for=_hidden, for=203.0.113.9' }, false).address, '203.0.113.9')
  t.equal(rfc7239.resolve(PROXY, { forwarded: 'for=203.0.113.9, for=_hidden' }, false).address, PROXY)
  t.equal(rfc7239.resolve(PROXY, { 'x-forwarded-for': '203.0.113.9' }, false).address, PROXY, 'X-Forwarded-For is not read in this mode')
  t.equal(xff.resolve(PROXY, { forwarded: 'for=203.0.113.9' }, false).address, PROXY, 'and Forwarded is not read in the default mode')
})

t.test('Forwarded parsing: quoting, separators inside quotes, malformed pairs', async (t) => {
  t.same(parseForwarded('for="[::1]:8080";proto=https;by="x;y,z", for=192.0.2.1'), [{ address: '::1', proto: 'https' }, { address: '192.0.2.1' }])
  t.same(parseForwarded('for="192.0.2.1'), [undefined], 'unterminated quote')
  t.same(parseForwarded('for'), [undefined], 'pair without a value')
  t.same(parseForwarded('proto=https'), [undefined], 'no for=')
  t.same(parseForwarded(''), [])
})

t.test('one keep-alive connection: its client is worked out once without trusted proxies, per request with them', (t) => {
  const socket = { remoteAddress: '::ffff:192.0.2.7', remotePort: 40000, localAddress: '127.0.0.1', localPort: 5280 }
  const direct = new ClientAddressPolicy([])
  const first = direct.describe({ headers: {}, socket })
  t.equal(first.address, '192.0.2.7')
  t.equal(direct.describe({ headers: { 'x-forwarded-for': '203.0.113.9' }, socket }), first, 'the same answer for the next request on that connection')
  const proxied = new ClientAddressPolicy(['192.0.2.7'])
  t.equal(proxied.describe({ headers: { 'x-forwarded-for': '203.0.113.9' }, socket }).address, '203.0.113.9')
  t.equal(proxied.describe({ headers: { 'x-forwarded-for': '203.0.113.10' }, socket }).address, '203.0.113.10', 'behind a trusted proxy each request names its own client')
  t.end()
})
