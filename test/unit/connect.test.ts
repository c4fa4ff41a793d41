import t from 'tap'
import { endpointsFor } from '../../src/upstream/connect.js'

type Srv = { name: string; port: number; priority: number; weight: number }
const resolver = (records: Record<string, Srv[]>) => async (name: string) => {
  const found = records[name]
  if (!found) throw Object.assign(new Error(`queryNotFound ${name}`), { code: 'ENOTFOUND' })
  return found
}

t.test('RFC 6120 §3.2.1: SRV records in priority order, _xmpp-client before _xmpps-client', async (t) => {
  const endpoints = await endpointsFor({ kind: 'srv' }, 'example.org', resolver({
    '_xmpp-client._tcp.example.org': [
      { name: 'backup.example.org', port: 5222, priority: 20, weight: 0 },
      { name: 'main.example.org', port: 5322, priority: 10, weight: 5 },
    ],
    '_xmpps-client._tcp.example.org': [{ name: 'tls.example.org', port: 5223, priority: 5, weight: 0 }],
  }))
  t.same(endpoints, [
    { host: 'main.example.org', port: 5322, directTls: false },
    { host: 'backup.example.org', port: 5222, directTls: false },
    { host: 'tls.example.org', port: 5223, directTls: true },
  ])
})

t.test('RFC 6120 §3.2.2: without SRV records, the domain itself on 5222', async (t) => {
  t.same(await endpointsFor({ kind: 'srv' }, 'example.org', resolver({})), [{ host: 'example.org', port: 5222, directTls: false }])
})

t.test('RFC 2782: a "." target means no service there', async (t) => {
  const endpoints = await endpointsFor({ kind: 'srv' }, 'example.org', resolver({
    '_xmpp-client._tcp.example.org': [{ name: '.', port: 0, priority: 0, weight: 0 }],
    '_xmpps-client._tcp.example.org': [{ name: 'tls.example.org', port: 5223, priority: 0, weight: 0 }],
  }))
  t.same(endpoints, [{ host: 'tls.example.org', port: 5223, directTls: true }])
})

t.test('configured targets are used as they are', async (t) => {
  t.same(await endpointsFor({ kind: 'tcp', host: '10.0.0.1', port: 5222 }, 'x'), [{ host: '10.0.0.1', port: 5222, directTls: false }])
  t.same(await endpointsFor({ kind: 'starttls', host: 'a', port: 1 }, 'x'), [{ host: 'a', port: 1, directTls: false }])
  t.same(await endpointsFor({ kind: 'tls', host: 'b', port: 2 }, 'x'), [{ host: 'b', port: 2, directTls: true }])
})
