// Proves the ejabberd test harness itself: a private VM with users, plain
// c2s with PLAIN and SCRAM, real logins and messages, the PROXY protocol
// listener, the admin API, isolation and clean-up.
import t from 'tap'
import { withTimeout } from '../helpers/wait.js'
import { readFileSync } from 'node:fs'
import { connect as tcpConnect, type Socket } from 'node:net'
import { client, xml } from '@xmpp/client'
import type { Element } from 'ltx'
import { startEjabberd, probeFeatures, type EjabberdUser, type RunningEjabberd } from '../helpers/ejabberd.js'

const STEP_TIMEOUT_MS = 10_000
// ASCII only: @xmpp/client 0.14 encodes PLAIN with btoa(), i.e. Latin-1, not UTF-8.
const ALICE = { username: 'alice', password: 'alice-secret <&>' }
const BOB = { username: 'bob', password: 'bob-secret-2' }

type Mechanism = 'PLAIN' | 'SCRAM-SHA-1'
type Authenticate = (creds: EjabberdUser, mechanism: string) => Promise<void>
/** The bits of tap's Test used here, without depending on tap's plugin-generated types. */
interface Teardownable { teardown: (fn: () => unknown) => void; passing: () => boolean }

function stopWithDiagnostics (t: Teardownable, server: RunningEjabberd): void {
  t.teardown(async () => {
    if (!t.passing()) console.error(`--- ejabberd log (${server.dir}) ---\n${server.logText().split('\n').slice(-80).join('\n')}`)
    await server.stop()
  })
}

/** Every step of these tests is bounded by STEP_TIMEOUT_MS. */
const bounded = <T>(p: Promise<T>, what: string): Promise<T> => withTimeout(p, what, STEP_TIMEOUT_MS)

interface Online { xmpp: ReturnType<typeof client>; jid: string; stanzas: Element[] }

/** @xmpp/client straight to ejabberd's c2s port with the given SASL mechanism. */
async function login (server: RunningEjabberd, user: EjabberdUser, mechanism: Mechanism, resource = 'harness'): Promise<Online> {
  const xmpp = client({
    service: `xmpp://${server.host}:${server.c2sPort}`,
    domain: server.domain,
    resource,
    credentials: async (authenticate: Authenticate, offered: string[]) => {
      if (!offered.includes(mechanism)) throw new Error(`${mechanism} not offered: ${offered.join(', ')}`)
      await authenticate(user, mechanism)
    }
  })
  xmpp.reconnect.stop()
  const stanzas: Element[] = []
  xmpp.on('stanza', (stanza: Element) => { stanzas.push(stanza) })
  const online = new Promise<string>((resolve, reject) => {
    xmpp.on('online', (address: { toString: () => string }) => resolve(address.toString()))
    // 'on', not 'once': a second 'error' without a listener would crash the test process.
    xmpp.on('error', (err: Error) => reject(err))
  })
  try {
    await bounded(Promise.race([xmpp.start(), online]), `login of ${user.username} with ${mechanism}`)
    return { xmpp, jid: await online, stanzas }
  } catch (err) {
    await xmpp.stop().catch(() => {})
    throw err
  }
}

async function waitUntil (what: string, ready: () => boolean): Promise<void> {
  const deadline = Date.now() + STEP_TIMEOUT_MS
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** A hand-driven c2s stream: PLAIN login and bind over raw TCP, after an optional PROXY header. */
class RawStream {
  private buf = ''
  private readonly socket: Socket
  private readonly opened: Promise<void>
  constructor (port: number) {
    this.socket = tcpConnect({ host: '127.0.0.1', port })
    this.socket.setEncoding('utf8')
    this.socket.on('data', (chunk: string) => { this.buf += chunk })
    this.socket.on('error', () => {})
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve)
      this.socket.once('error', reject)
    })
  }

  get closed (): boolean { return this.socket.destroyed || this.socket.readableEnded }

  async send (text: string): Promise<void> {
    await this.opened
    this.socket.write(text)
  }

  /** Everything received so far once `pattern` matches it, or an error naming what did arrive. */
  async read (pattern: RegExp): Promise<string> {
    await waitUntil(`${String(pattern)} (got ${JSON.stringify(this.buf)})`, () => pattern.test(this.buf) || this.closed)
    if (!pattern.test(this.buf)) throw new Error(`stream closed without ${String(pattern)}; got ${JSON.stringify(this.buf)}`)
    const all = this.buf
    this.buf = ''
    return all
  }

  /** Whatever arrived until the server closed the connection. */
  async untilClosed (): Promise<string> {
    await waitUntil('the server to close the connection', () => this.closed)
    return this.buf
  }

  async login (domain: string, user: EjabberdUser, resource: string, prefix = ''): Promise<string> {
    const header = `<?xml version='1.0'?><stream:stream to='${domain}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`
    await this.send(prefix + header)
    await this.read(/<\/stream:features>/)
    await this.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${user.username}\0${user.password}`).toString('base64')}</auth>`)
    await this.read(/<success/)
    await this.send(header)
    await this.read(/<\/stream:features>/)
    await this.send(`<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`)
    const bound = await this.read(/<\/iq>/)
    const jid = /<jid>([^<]+)<\/jid>/.exec(bound)?.[1]
    if (jid === undefined) throw new Error(`bind failed: ${bound}`)
    return jid
  }

  close (): void {
    this.socket.end('</stream:stream>')
    setTimeout(() => this.socket.destroy(), 500).unref()
  }
}

const processGone = (pid: number): boolean => {
  try { process.kill(pid, 0); return false } catch { return true }
}

t.test('plain c2s: stream features, SASL, logins and a direct message', async t => {
  const server = await startEjabberd({ users: [ALICE, BOB] })
  stopWithDiagnostics(t, server)
  t.equal(server.host, '127.0.0.1')
  t.equal(server.domain, 'localhost')
  t.ok(server.c2sPort > 0 && server.c2sPort < 32768, 'c2s port is outside the ephemeral range')
  t.equal(server.proxyC2sPort, undefined, 'no PROXY protocol listener unless asked for')
  t.same(await server.api('registered_users', { host: 'localhost' }), ['alice', 'bob'], 'exactly the requested users are registered')

  const features = await probeFeatures(server.c2sPort, server.domain)
  t.match(features, /<mechanism>SCRAM-SHA-1<\/mechanism>/, 'SCRAM-SHA-1 offered')
  t.match(features, /<mechanism>PLAIN<\/mechanism>/, 'PLAIN offered on the unencrypted stream')
  t.notMatch(features, '<starttls', 'no STARTTLS offer (no certificate configured)')
  t.notMatch(features, 'X-OAUTH2', 'X-OAUTH2 is disabled')

  const alice = await login(server, ALICE, 'SCRAM-SHA-1', 'desk')
  t.teardown(() => alice.xmpp.stop().catch(() => {}))
  const bob = await login(server, BOB, 'PLAIN', 'phone')
  t.teardown(() => bob.xmpp.stop().catch(() => {}))
  t.equal(alice.jid, 'alice@localhost/desk', 'alice logged in with SCRAM-SHA-1 and bound her resource')
  t.equal(bob.jid, 'bob@localhost/phone', 'bob logged in with PLAIN and bound his resource')

  await t.rejects(login(server, { username: 'alice', password: 'wrong' }, 'PLAIN'), /not-authorized/, 'a wrong password is refused (PLAIN)')
  await t.rejects(login(server, { username: 'alice', password: 'wrong' }, 'SCRAM-SHA-1'), /not-authorized/, 'a wrong password is refused (SCRAM-SHA-1)')
  await t.rejects(login(server, { username: 'mallory', password: 'x' }, 'PLAIN'), /not-authorized/, 'an unknown user is refused')

  const bodies = ['héllo 😀 中文 <&>\'" end', 'second']
  for (const [i, body] of bodies.entries()) {
    await alice.xmpp.send(xml('message', { to: bob.jid, type: 'chat', id: `m${i}` }, xml('body', {}, body)))
  }
  const atBob = (): Element[] => bob.stanzas.filter(s => s.is('message') && s.getChild('body') !== undefined)
  await waitUntil('two messages at bob', () => atBob().length >= 2)
  t.same(atBob().map(m => m.getChildText('body')), bodies, 'bob got both bodies exactly, in order')
  t.same(atBob().map(m => [m.attrs.from, m.attrs.id]), [[alice.jid, 'm0'], [alice.jid, 'm1']], 'from alice\'s full JID, ids kept')
  await bob.xmpp.send(xml('message', { to: alice.jid, type: 'chat' }, xml('body', {}, 'reply ✓')))
  const atAlice = (): Element[] => alice.stanzas.filter(s => s.is('message') && s.getChild('body') !== undefined)
  await waitUntil('the reply at alice', () => atAlice().length >= 1)
  t.same(atAlice().map(m => m.getChildText('body')), ['reply ✓'], 'and the reply reached alice')

  const sessions = await server.sessions('alice')
  t.same(sessions.map(s => [s.resource, s.ip, s.connection]), [['desk', '127.0.0.1', 'c2s']], 'user_sessions_info reports alice\'s one session')

  await server.addUser({ username: 'carol', password: 'carol-pw' })
  const carol = await login(server, { username: 'carol', password: 'carol-pw' }, 'SCRAM-SHA-1')
  t.equal(carol.jid, 'carol@localhost/harness', 'a user added while running can log in')
  await carol.xmpp.stop()

  await alice.xmpp.stop()
  await bob.xmpp.stop()
})

t.test('PROXY protocol listener: the header\'s source address is the session\'s address', async t => {
  const server = await startEjabberd({ users: [ALICE], proxyProtocol: true })
  stopWithDiagnostics(t, server)
  const proxyPort = server.proxyC2sPort
  if (proxyPort === undefined) throw new Error('proxyC2sPort missing although proxyProtocol was requested')
  t.not(proxyPort, server.c2sPort)

  const proxied = new RawStream(proxyPort)
  t.teardown(() => proxied.close())
  const jid = await proxied.login(server.domain, ALICE, 'proxied', 'PROXY TCP4 192.0.2.7 127.0.0.1 40001 5222\r\n')
  t.equal(jid, 'alice@localhost/proxied', 'logged in through the proxy listener after a v1 header')
  const sessions = await server.sessions('alice')
  t.same(sessions.map(s => [s.resource, s.ip, s.port]), [['proxied', '192.0.2.7', 40001]], 'ejabberd reports the address and port from the header')
  t.ok(await server.waitForLog(/Accepted proxied connection 192\.0\.2\.7:40001 -> 127\.0\.0\.1:5222/), 'and logs it')

  const bare = new RawStream(proxyPort)
  t.teardown(() => bare.close())
  await bare.send(`<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`)
  t.notMatch(await bare.untilClosed(), '<stream:features', 'without a header the proxy listener closes the connection unanswered')

  const plain = new RawStream(server.c2sPort)
  t.teardown(() => plain.close())
  t.equal(await plain.login(server.domain, ALICE, 'direct'), 'alice@localhost/direct', 'the plain listener still works alongside')
  const both = await server.sessions('alice')
  t.same(both.map(s => [s.resource, s.ip]).sort(), [['direct', '127.0.0.1'], ['proxied', '192.0.2.7']], 'each session has its own address')
})

t.test('isolation: two servers at once, no Erlang distribution, stop() ends the VM and removes the dir', async t => {
  const started = Date.now()
  const [one, two] = await Promise.all([startEjabberd({ users: [ALICE] }), startEjabberd({ users: [ALICE] })])
  if (one === undefined || two === undefined) throw new Error('unreachable')
  stopWithDiagnostics(t, one)
  stopWithDiagnostics(t, two)
  t.comment(`two servers started in parallel in ${Date.now() - started} ms`)
  t.not(one.dir, two.dir, 'separate temp dirs')
  t.not(one.c2sPort, two.c2sPort, 'separate c2s ports')
  t.not(one.apiPort, two.apiPort, 'separate API ports')

  const args = readFileSync(`/proc/${one.pid}/cmdline`, 'utf8').split('\0')
  t.ok(args.some(a => a.endsWith('beam.smp')), 'the pid is the VM itself')
  t.notOk(args.includes('-name') || args.includes('-sname'), 'no node name: distribution off, so no epmd and no cookie')
  t.ok(args.includes(`"${one.dir}/spool-1"`), 'Mnesia lives in the temp dir')

  const a1 = await login(one, ALICE, 'PLAIN', 'one')
  const a2 = await login(two, ALICE, 'PLAIN', 'two')
  t.same((await one.sessions('alice')).map(s => s.resource), ['one'], 'each server has only its own session')
  t.same((await two.sessions('alice')).map(s => s.resource), ['two'])
  await a1.xmpp.stop()
  await a2.xmpp.stop()

  const stopStarted = Date.now()
  await one.stop()
  t.comment(`stop() took ${Date.now() - stopStarted} ms`)
  t.ok(processGone(one.pid), 'the VM is gone after stop()')
  t.throws(() => readFileSync(`${one.dir}/ejabberd.yml`), 'the temp dir is removed')
  t.match(one.logText(), /is started in the node nonode@nohost/, 'logText() still works after stop()')
  await one.stop()
  t.pass('stop() is idempotent')
  t.same((await two.sessions('alice')), [], 'the other server is unaffected')
})

t.test('a bad configuration fails fast with the log tail', async t => {
  const started = Date.now()
  await t.rejects(startEjabberd({ modules: ['mod_no_such_thing'] }), { message: /VM exited during start-up[^]*unknown ejabberd module: mod_no_such_thing/ }, 'the error quotes ejabberd\'s own complaint')
  t.ok(Date.now() - started < 15_000, 'without waiting for the start-up timeout')
})
