/**
 * PROXY protocol headers, byte for byte (HAProxy's proxy-protocol.txt:
 * v1 §2.1 human-readable line, v2 §2.2 binary header).
 */
import t from 'tap'
import { proxyProtocolHeader } from '../../src/net/proxy-protocol.js'

const SIGNATURE = '0d0a0d0a000d0a515549540a'

t.test('off sends nothing', async (t) => {
  t.equal(proxyProtocolHeader('off', { sourceAddress: '192.0.2.1', sourcePort: 1, destinationAddress: '192.0.2.2', destinationPort: 2 }), undefined)
})

t.test('v1: one text line with both addresses and ports', async (t) => {
  const v4 = proxyProtocolHeader('v1', { sourceAddress: '203.0.113.9', sourcePort: 51234, destinationAddress: '127.0.0.1', destinationPort: 5280 })
  t.equal(v4?.toString('latin1'), 'PROXY TCP4 203.0.113.9 127.0.0.1 51234 5280\r\n')
  const v6 = proxyProtocolHeader('v1', { sourceAddress: '2001:db8::1', sourcePort: 443, destinationAddress: '::1', destinationPort: 5280 })
  t.equal(v6?.toString('latin1'), 'PROXY TCP6 2001:db8::1 ::1 443 5280\r\n')
  const mapped = proxyProtocolHeader('v1', { sourceAddress: '::ffff:127.0.0.7', sourcePort: 5, destinationAddress: '::ffff:127.0.0.1', destinationPort: 6 })
  t.equal(mapped?.toString('latin1'), 'PROXY TCP4 127.0.0.7 127.0.0.1 5 6\r\n', 'IPv4-mapped addresses travel as TCP4')
  const mixed = proxyProtocolHeader('v1', { sourceAddress: '203.0.113.9', sourcePort: 0, destinationAddress: '::1', destinationPort: 5280 })
  t.equal(mixed?.toString('latin1'), 'PROXY TCP6 ::ffff:203.0.113.9 ::1 0 5280\r\n', 'mixed families are both written as IPv6')
  t.ok((v6?.length ?? 0) <= 107, 'within the v1 line limit')
})

t.test('v1 and v2 without a usable address say so', async (t) => {
  t.equal(proxyProtocolHeader('v1', undefined)?.toString('latin1'), 'PROXY UNKNOWN\r\n')
  t.equal(proxyProtocolHeader('v1', { sourceAddress: 'garbage', sourcePort: 1, destinationAddress: '127.0.0.1', destinationPort: 2 })?.toString('latin1'), 'PROXY UNKNOWN\r\n')
  t.equal(proxyProtocolHeader('v2', undefined)?.toString('hex'), `${SIGNATURE}20000000`, 'v2 LOCAL command, no addresses')
})

t.test('v2 TCP over IPv4: signature, version/command, family, length, addresses, ports', async (t) => {
  const header = proxyProtocolHeader('v2', { sourceAddress: '203.0.113.9', sourcePort: 51234, destinationAddress: '127.0.0.1', destinationPort: 5280 })
  t.equal(
    header?.toString('hex'),
    SIGNATURE + '21' + '11' + '000c' + 'cb007109' + '7f000001' + (51234).toString(16).padStart(4, '0') + (5280).toString(16).padStart(4, '0'),
  )
  t.equal(header?.length, 16 + 12)
})

t.test('v2 TCP over IPv6, including :: and a dotted tail', async (t) => {
  const header = proxyProtocolHeader('v2', { sourceAddress: '2001:db8::17', sourcePort: 4711, destinationAddress: '::1', destinationPort: 443 })
  t.equal(
    header?.toString('hex'),
    SIGNATURE + '21' + '21' + '0024' + '20010db8000000000000000000000017' + '00000000000000000000000000000001' + '1267' + '01bb',
  )
  const mixed = proxyProtocolHeader('v2', { sourceAddress: '192.0.2.1', sourcePort: 1, destinationAddress: 'fe80::a:b', destinationPort: 2 })
  t.equal(mixed?.subarray(16, 32).toString('hex'), '00000000000000000000ffffc0000201', 'IPv4 source as IPv4-mapped IPv6')
  t.equal(mixed?.subarray(32, 48).toString('hex'), 'fe80' + '0000'.repeat(5) + '000a' + '000b')
})
