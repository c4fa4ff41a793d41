/**
 * The SCRAM client against the RFCs' own example exchanges: RFC 5802 §5
 * (SCRAM-SHA-1) and RFC 7677 §3 (SCRAM-SHA-256), byte for byte, and the
 * checks a client owes a server that misbehaves.
 */
import t from 'tap'
import { ScramClient, ScramError, plainMessage } from '../../src/admin/scram.js'

t.test('RFC 5802 §5: the SCRAM-SHA-1 example, message by message', async (t) => {
  const client = new ScramClient('SCRAM-SHA-1', 'user', 'pencil', 'fyko+d2lbbFgONRv9qkxdawL')
  t.equal(client.first(), 'n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL')
  const final = await client.final('r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096')
  t.equal(final, 'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=')
  t.ok(client.verify('v=rmF9pqV8S7suAoZWja4dJRkFsKQ='), 'the server signature checks out')
  t.notOk(client.verify('v=AAAAAAAAAAAAAAAAAAAAAAAAAAA='), 'a wrong server signature does not')
})

t.test('RFC 7677 §3: the SCRAM-SHA-256 example, message by message', async (t) => {
  const client = new ScramClient('SCRAM-SHA-256', 'user', 'pencil', 'rOprNGfwEbeRWgbNEkqO')
  t.equal(client.first(), 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO')
  const final = await client.final('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096')
  t.equal(final, 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=')
  t.ok(client.verify('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='))
  t.notOk(client.verify('e=invalid-proof'), 'a server error is not a verification')
})

t.test('RFC 5802 §5.1: "=" and "," in a user name are escaped', async (t) => {
  t.equal(new ScramClient('SCRAM-SHA-1', 'a=b,c', 'x', 'nonce123').first(), 'n,,n=a=3Db=2Cc,r=nonce123')
})

t.test('a server that breaks the rules is refused before any proof is computed', async (t) => {
  const client = () => new ScramClient('SCRAM-SHA-256', 'user', 'pencil', 'abcdef')
  await t.rejects(client().final('r=other,s=QSXCR+Q6sek8bf92,i=4096'), ScramError, 'a nonce that does not extend ours')
  await t.rejects(client().final('r=abcdef,s=QSXCR+Q6sek8bf92,i=4096'), ScramError, 'a nonce with nothing of the server’s')
  await t.rejects(client().final('r=abcdefXYZ,s=QSXCR+Q6sek8bf92,i=0'), ScramError, 'zero iterations')
  await t.rejects(client().final('r=abcdefXYZ,s=QSXCR+Q6sek8bf92,i=100000000'), /iteration count out of range/, 'a CPU-burning iteration count')
  await t.rejects(client().final('m=ext,r=abcdefXYZ,s=QSXCR+Q6sek8bf92,i=4096'), /extension/, 'a mandatory extension')
  await t.rejects(client().final('r=abcdefXYZ,i=4096'), /salt/, 'no salt')
  t.notOk(client().verify('v=rmF9pqV8S7suAoZWja4dJRkFsKQ='), 'no verification before the proof was computed')
  t.throws(() => new ScramClient('SCRAM-SHA-1', 'u', 'p', 'has,comma'), ScramError)
})

t.test('RFC 4616 PLAIN: NUL user NUL password, base64', async (t) => {
  t.equal(Buffer.from(plainMessage('alice', 'pä55'), 'base64').toString('utf8'), '\0alice\0pä55')
})
