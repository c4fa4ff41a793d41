import t from 'tap'
import { checkDomain, normaliseDomain } from '../../src/core/xmpp/domain.js'
import {
  describeTarget,
  parseUpstream,
  RoutingError,
  RoutingTable,
} from '../../src/upstream/routing.js'
import type { RouteResult, UpstreamRule } from '../../src/upstream/routing.js'

const CYRILLIC_LOCALHOST = 'l\u043ecalhost' // "lоcalhost" with U+043E CYRILLIC SMALL LETTER O
const KELVIN_EXAMPLE = '\u212Aexample.org' // U+212A KELVIN SIGN lowercases to ASCII "k"

const table = (...specs: string[]): RoutingTable => new RoutingTable(specs.map(parseUpstream))

function refused(result: RouteResult): string {
  return result.ok ? 'routed' : result.condition
}

t.test('normaliseDomain: case and one trailing dot', async (t) => {
  t.equal(normaliseDomain('Example.ORG'), 'example.org')
  t.equal(normaliseDomain('example.org.'), 'example.org', 'RFC 7622 §3.2: a trailing dot is stripped')
  t.equal(normaliseDomain('example.org..'), undefined, 'only one dot is stripped')
  t.equal(normaliseDomain('localhost'), 'localhost')
  t.equal(normaliseDomain('LOCALHOST.'), 'localhost')
  t.equal(normaliseDomain('xn--bcher-kva.example'), 'xn--bcher-kva.example')
  t.equal(normaliseDomain('1.example.com'), '1.example.com', 'numeric labels are fine before the last')
  t.equal(normaliseDomain('a-b.example'), 'a-b.example')
})

t.test('normaliseDomain: empty and structurally wrong names are refused', async (t) => {
  for (const bad of ['', '.', '..', '.example.org', 'example..org', '-example.org', 'example-.org', 'a_b.example']) {
    t.equal(normaliseDomain(bad), undefined, JSON.stringify(bad))
  }
  t.equal(normaliseDomain(`${'a'.repeat(63)}.example`), `${'a'.repeat(63)}.example`, '63-character label')
  t.equal(normaliseDomain(`${'a'.repeat(64)}.example`), undefined, '64-character label')
  t.equal(normaliseDomain(Array(64).fill('abc').join('.')), undefined, 'longer than 253 characters')
})

t.test('normaliseDomain: port suffixes, paths, JIDs, whitespace and brackets are refused', async (t) => {
  for (const bad of [
    'localhost:5222',
    'localhost:',
    'example.org:80',
    'example.org/resource',
    'user@example.org',
    'example .org',
    ' example.org',
    'example.org\n',
    'example.org\t',
    'exam\u00a0ple.org',
    '[::1]',
    '::1',
    'exa\u200bmple.org',
    'exa\u0000mple.org',
  ]) {
    t.equal(normaliseDomain(bad), undefined, JSON.stringify(bad))
  }
  const port = checkDomain('localhost:5222')
  t.match(port, { ok: false, reason: /port suffix/ })
})

t.test('normaliseDomain: IPv4 literals', async (t) => {
  t.equal(normaliseDomain('127.0.0.1'), '127.0.0.1')
  t.equal(normaliseDomain('192.168.1.10.'), '192.168.1.10')
  for (const bad of ['999.1.1.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '123']) {
    t.equal(normaliseDomain(bad), undefined, bad)
  }
})

t.test('normaliseDomain: Unicode is kept as given, never folded onto ASCII', async (t) => {
  t.equal(normaliseDomain(CYRILLIC_LOCALHOST), CYRILLIC_LOCALHOST)
  t.not(normaliseDomain(CYRILLIC_LOCALHOST), 'localhost')
  t.equal(normaliseDomain('Bücher.Example'), 'bücher.example', 'Unicode letters are lowercased')
  t.equal(normaliseDomain('ÄÖÜ.example'), 'äöü.example')
  t.equal(normaliseDomain(KELVIN_EXAMPLE), undefined, 'KELVIN SIGN would lowercase to ASCII k')
  t.equal(normaliseDomain('\u0130stanbul.example'), undefined, 'İ would lowercase to ASCII i + combining dot')
  t.equal(normaliseDomain('example\u3002org'), undefined, 'IDEOGRAPHIC FULL STOP is not a label separator here')
  t.equal(normaliseDomain('\u0301a.example'), undefined, 'a label may not start with a combining mark')
})

t.test('parseUpstream: every URL scheme, with and without a port', async (t) => {
  const cases: [string, UpstreamRule][] = [
    ['example.org=tcp://xmpp.example.org', { domain: 'example.org', target: { kind: 'tcp', host: 'xmpp.example.org', port: 5222 } }],
    ['example.org=tcp://xmpp.example.org:5269', { domain: 'example.org', target: { kind: 'tcp', host: 'xmpp.example.org', port: 5269 } }],
    ['example.org=starttls://10.0.0.1', { domain: 'example.org', target: { kind: 'starttls', host: '10.0.0.1', port: 5222 } }],
    ['example.org=starttls://10.0.0.1:6222', { domain: 'example.org', target: { kind: 'starttls', host: '10.0.0.1', port: 6222 } }],
    ['example.org=tls://xmpp.example.org', { domain: 'example.org', target: { kind: 'tls', host: 'xmpp.example.org', port: 5223 } }],
    ['example.org=tls://xmpp.example.org:443', { domain: 'example.org', target: { kind: 'tls', host: 'xmpp.example.org', port: 443 } }],
    ['example.org=srv', { domain: 'example.org', target: { kind: 'srv' } }],
    ['Example.ORG.=SRV', { domain: 'example.org', target: { kind: 'srv' } }],
    ['*=tcp://127.0.0.1:5222', { domain: '*', target: { kind: 'tcp', host: '127.0.0.1', port: 5222 } }],
    ['*=TCP://LOCALHOST', { domain: '*', target: { kind: 'tcp', host: 'localhost', port: 5222 } }],
    ['  example.org = tcp://a.example  ', { domain: 'example.org', target: { kind: 'tcp', host: 'a.example', port: 5222 } }],
  ]
  for (const [spec, rule] of cases) t.same(parseUpstream(spec), rule, spec)
})

t.test('parseUpstream: IPv6 literals in brackets', async (t) => {
  t.same(parseUpstream('*=tcp://[::1]:5222').target, { kind: 'tcp', host: '::1', port: 5222 })
  t.same(parseUpstream('*=tls://[2001:db8::1]').target, { kind: 'tls', host: '2001:db8::1', port: 5223 })
  t.equal(describeTarget(parseUpstream('*=tcp://[::1]').target), 'tcp://[::1]:5222')
  t.throws(() => parseUpstream('*=tcp://::1:5222'), { message: /in brackets/ })
  t.throws(() => parseUpstream('*=tcp://[::1'), { message: /unterminated/ })
  t.throws(() => parseUpstream('*=tcp://[example.org]:5222'), { message: /not an IPv6 address/ })
  t.throws(() => parseUpstream('*=tcp://[::1]5222'), { message: /after "\]"/ })
  t.throws(() => parseUpstream('[::1]=tcp://[::1]'), { message: /brackets/ })
})

t.test('parseUpstream: bad rules say what is wrong', async (t) => {
  const bad: [string, RegExp][] = [
    ['example.org', /expected DOMAIN=URL/],
    ['example.org=', /missing URL/],
    ['=tcp://a.example', /domain is empty/],
    ['example.org=http://a.example', /scheme "http" is not supported/],
    ['example.org=xmpp.example.org:5222', /is not valid/],
    ['example.org=tcp://', /no host/],
    ['example.org=tcp://a.example/', /path/],
    ['example.org=tcp://a.example:5222/path', /path/],
    ['example.org=tcp://a.example?x=1', /query/],
    ['example.org=tcp://user@a.example', /credentials/],
    ['example.org=tcp://a.example:0', /port must be an integer between 1 and 65535/],
    ['example.org=tcp://a.example:65536', /port must be an integer between 1 and 65535/],
    ['example.org=tcp://a.example:http', /port must be/],
    ['example.org=tcp://a.example:', /port must be/],
    ['example.org=tcp://bücher.example', /ASCII/],
    ['example.org=tcp://a_b.example', /not allowed/],
    ['localhost:5222=tcp://127.0.0.1', /port suffix/],
    ['user@example.org=tcp://127.0.0.1', /JID/],
    ['*=srv', /open|any XMPP server/],
  ]
  for (const [spec, message] of bad) {
    t.throws(() => parseUpstream(spec), { name: 'RoutingError', message }, spec)
  }
  t.throws(() => parseUpstream('nope'), RoutingError)
})

t.test('RoutingTable: an exact domain wins over *; * catches the rest', async (t) => {
  const routes = table('example.org=tls://xmpp.example.org', '*=tcp://127.0.0.1:5222')
  t.same(routes.resolve('example.org'), { ok: true, domain: 'example.org', target: { kind: 'tls', host: 'xmpp.example.org', port: 5223 } })
  t.same(routes.resolve('EXAMPLE.org.'), { ok: true, domain: 'example.org', target: { kind: 'tls', host: 'xmpp.example.org', port: 5223 } })
  t.same(routes.resolve('other.example'), { ok: true, domain: 'other.example', target: { kind: 'tcp', host: '127.0.0.1', port: 5222 } })
})

t.test('RoutingTable: without * an unknown domain is refused (never an open relay)', async (t) => {
  const routes = table('example.org=tcp://127.0.0.1', 'example.net=srv')
  t.match(routes.resolve('example.com'), { ok: false, condition: 'host-unknown', reason: /not served/ })
  t.same(routes.resolve('example.net'), { ok: true, domain: 'example.net', target: { kind: 'srv' } })
  t.match(new RoutingTable([]).resolve('example.org'), { ok: false, condition: 'host-unknown' })
})

t.test('RoutingTable: missing domain is improper-addressing, invalid is host-unknown', async (t) => {
  const routes = table('*=tcp://127.0.0.1')
  t.match(routes.resolve(''), { ok: false, condition: 'improper-addressing' }, 'XEP-0124 §17.2: no to attribute')
  t.match(routes.resolve(undefined), { ok: false, condition: 'improper-addressing' })
  t.equal(refused(routes.resolve(' ')), 'host-unknown')
  t.equal(refused(routes.resolve('.')), 'host-unknown')
  t.equal(refused(routes.resolve('user@example.org')), 'host-unknown')
  t.equal(refused(routes.resolve('example.org/res')), 'host-unknown')
})

t.test('RoutingTable: a port suffix is refused, even with a * rule', async (t) => {
  const exact = table('localhost=tcp://127.0.0.1')
  t.match(exact.resolve('localhost:5222'), { ok: false, condition: 'host-unknown', reason: /port suffix/ })
  const wildcard = table('localhost=tcp://127.0.0.1', '*=tcp://10.0.0.1')
  t.match(wildcard.resolve('localhost:5222'), { ok: false, condition: 'host-unknown' })
  t.match(wildcard.resolve('10.0.0.1:5222'), { ok: false, condition: 'host-unknown' })
})

t.test('RoutingTable: an IDN look-alike never matches the ASCII name', async (t) => {
  const noWildcard = table('localhost=tcp://127.0.0.1')
  t.match(noWildcard.resolve(CYRILLIC_LOCALHOST), { ok: false, condition: 'host-unknown' })
  t.match(noWildcard.resolve(KELVIN_EXAMPLE), { ok: false, condition: 'host-unknown' })
  const wildcard = table('localhost=tls://secret.internal', '*=tcp://10.0.0.1')
  t.same(wildcard.resolve(CYRILLIC_LOCALHOST), {
    ok: true,
    domain: CYRILLIC_LOCALHOST,
    target: { kind: 'tcp', host: '10.0.0.1', port: 5222 },
  }, 'goes to the * server, not to the localhost rule')
})

t.test('RoutingTable: the [::1] literal is not a routable domain', async (t) => {
  const routes = table('*=tcp://[::1]:5222')
  t.match(routes.resolve('[::1]'), { ok: false, condition: 'host-unknown', reason: /brackets/ })
  t.same(routes.resolve('127.0.0.1'), { ok: true, domain: '127.0.0.1', target: { kind: 'tcp', host: '::1', port: 5222 } })
})

t.test('RoutingTable: duplicate domains are an error', async (t) => {
  t.throws(() => table('example.org=tcp://a.example', 'Example.Org.=tls://b.example'), { name: 'RoutingError', message: /duplicate rule for domain "example.org"/ })
  t.throws(() => table('*=tcp://a.example', '*=tcp://b.example'), { message: /duplicate rule for "\*"/ })
  t.throws(() => new RoutingTable([{ domain: '*', target: { kind: 'srv' } }]), { message: /any XMPP server/ })
  t.throws(() => new RoutingTable([{ domain: 'bad domain', target: { kind: 'srv' } }]), { message: /not a valid domain/ })
})

t.test('describe() and describeTarget() for logs', async (t) => {
  const routes = table('example.org=starttls://xmpp.example.org:5222', 'example.net=srv', '*=tls://[::1]')
  t.equal(routes.describe(), 'example.org → starttls://xmpp.example.org:5222, example.net → srv, * → tls://[::1]:5223')
  t.equal(new RoutingTable([]).describe(), '(no routes: every domain is refused)')
  t.equal(describeTarget({ kind: 'srv' }), 'srv')
  t.equal(routes.rules.length, 3)
})
