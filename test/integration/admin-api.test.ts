/**
 * The admin listener and its API, against a real Prosody: what is served
 * where, bearer-token refusals (RFC 6750 §3), the session list with its
 * filters and pagination, and ending a session of either transport through
 * its core's terminate path, with the condition the operator names.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startCauseway } from '../helpers/causeway.js'
import { freePort } from '../helpers/ports.js'
import { startProsody } from '../helpers/prosody.js'
import { connectStrophe } from '../helpers/strophe-client.js'
import { eventually } from '../helpers/wait.js'
import { OPEN, rawClient } from '../helpers/ws-client.js'
import { connectClient } from '../helpers/xmpp-client.js'

const TOKEN = 'admin-token-9f8e7d6c5b4a3928'
const ALICE = { username: 'alice', password: 'alice-admin-pw' }
const BOB = { username: 'bob', password: 'bob-admin-pw' }

const prosody = await startProsody({ users: [ALICE, BOB], scramIterations: 4096 })
t.teardown(() => prosody.stop())
const upstream = [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`]

interface SessionView {
  id: string
  transport: string
  state: string
  remote: string
  origin?: string
  domain?: string
  jid?: string
  authenticated: boolean
  ageSeconds: number
  idleSeconds: number
  stanzas: { in: number; out: number }
  bytes: { in: number; out: number }
  heldRequests?: number
}
interface Page {
  sessions: SessionView[]
  total: number
  next: number | null
}

t.test('the admin listener: what is served where, and who may ask', async (t) => {
  const cw = await startCauseway({ upstream, adminPort: await freePort(), adminToken: TOKEN })
  t.teardown(() => cw.stop())
  const admin = cw.adminUrl ?? ''
  t.ok(admin, 'an admin listener')

  for (const path of ['/status', '/status.json', '/admin/sessions']) t.equal((await fetch(cw.httpUrl + path)).status, 404, `${path} is not on the public listener`)
  t.equal((await fetch(`${cw.httpUrl}/metrics`)).status, 200, '/metrics stays on the public listener by default (publicMetrics)')
  for (const path of ['/metrics', '/healthz', '/readyz', '/status', '/status.json']) t.equal((await fetch(admin + path)).status, 200, `${path} on the admin listener, no token needed`)
  const status = await fetch(`${admin}/status`)
  t.match(status.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/)

  const none = await fetch(`${admin}/admin/sessions`)
  t.equal(none.status, 401, 'no token: 401')
  t.equal(none.headers.get('www-authenticate'), 'Bearer realm="causeway-admin"')
  const wrong = await fetch(`${admin}/admin/sessions`, { headers: { authorization: `Bearer ${TOKEN}x` } })
  t.equal(wrong.status, 401, 'a wrong token: 401')
  t.equal(wrong.headers.get('www-authenticate'), 'Bearer realm="causeway-admin", error="invalid_token"')
  for (const method of ['DELETE', 'POST'] as const) {
    const path = method === 'DELETE' ? '/admin/sessions/abc' : '/admin/prebind'
    t.equal((await fetch(admin + path, { method, headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } })).status, 401, `${method} ${path} needs the token too`)
  }
  t.equal((await fetch(`${admin}/admin/sessions`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200, 'the token: 200')
  const scrape = await (await fetch(`${admin}/metrics`)).text()
  t.match(scrape, /causeway_admin_requests_total\{endpoint="GET \/admin\/sessions",status="401"\} 2/)
  t.notMatch(cw.logText(), new RegExp(TOKEN.slice(0, 12)), 'the token is never logged')
})

t.test('publicMetrics off: /metrics only on the admin listener; adminTokenFile', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'causeway-admin-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'token')
  await writeFile(file, `${TOKEN}\n`)
  const cw = await startCauseway({ upstream, adminPort: await freePort(), adminTokenFile: file, publicMetrics: false })
  t.teardown(() => cw.stop())
  t.equal((await fetch(`${cw.httpUrl}/metrics`)).status, 404)
  t.equal((await fetch(`${cw.adminUrl}/metrics`)).status, 200)
  t.equal((await fetch(`${cw.adminUrl}/admin/sessions`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200, 'the token from the file, whitespace trimmed')
})

t.test('without adminToken the admin API does not exist; the listener still serves metrics and status', async (t) => {
  const cw = await startCauseway({ upstream, adminPort: await freePort() })
  t.teardown(() => cw.stop())
  t.equal((await fetch(`${cw.adminUrl}/admin/sessions`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 404)
  t.equal((await fetch(`${cw.adminUrl}/status.json`)).status, 200)
})

t.test('GET /admin/sessions: every session of both transports, filtered and paginated; DELETE ends one', async (t) => {
  const cw = await startCauseway({ upstream, adminPort: await freePort(), adminToken: TOKEN })
  t.teardown(() => cw.stop())
  const auth = { authorization: `Bearer ${TOKEN}` }
  const get = async (query = ''): Promise<Page> => {
    const response = await fetch(`${cw.adminUrl}/admin/sessions${query}`, { headers: auth })
    t.equal(response.status, 200, `GET ${query}`)
    return (await response.json()) as Page
  }

  const alice = await connectClient({ service: cw.wsUrl, ...ALICE, resource: 'admin-ws' })
  t.teardown(() => alice.stop())
  const bob = await connectStrophe(cw.boshUrl, 'bob@localhost/admin-bosh', BOB.password)
  t.teardown(() => bob.disconnect())
  const raw = await rawClient(cw.wsUrl, ['xmpp'], { origin: 'https://chat.example' })
  raw.send(OPEN())
  await raw.waitForMatch(/<stream:features/)
  const raw2 = await rawClient(cw.wsUrl)
  raw2.send(OPEN())
  await raw2.waitForMatch(/<stream:features/)

  const all = await eventually('four sessions, two bound', async () => {
    const page = await get()
    return page.total === 4 && page.sessions.filter((s) => s.jid).length === 2 ? page : undefined
  })
  t.equal(all.next, null, 'one page')
  const ws = all.sessions.find((s) => s.jid === 'alice@localhost/admin-ws')
  const bosh = all.sessions.find((s) => s.transport === 'bosh')
  t.match(ws, { transport: 'websocket', state: 'authenticated', remote: '127.0.0.1', domain: 'localhost', authenticated: true })
  t.match(bosh, { transport: 'bosh', state: 'authenticated', jid: 'bob@localhost/admin-bosh', domain: 'localhost', authenticated: true })
  t.type(bosh?.heldRequests, 'number', 'BOSH sessions show their held requests')
  t.notOk('heldRequests' in (ws ?? {}), 'WebSocket sessions have none')
  for (const s of all.sessions) {
    t.match(s.id, /^[0-9a-f]{16}$/, 'ids are the digests the logs show')
    t.ok(s.ageSeconds >= 0 && s.idleSeconds >= 0 && s.idleSeconds <= s.ageSeconds + 1)
    if (s.authenticated) t.ok(s.bytes.in > 0 && s.bytes.out > 0 && s.stanzas.in > 0 && s.stanzas.out > 0, 'a logged-in session counted both ways')
  }
  t.equal(all.sessions.filter((s) => s.origin === 'https://chat.example').length, 1, 'the Origin')

  t.same((await get('?transport=bosh')).sessions.map((s) => s.transport), ['bosh'])
  t.equal((await get('?state=pre-auth')).total, 2, 'the two raw clients have not logged in')
  t.equal((await get('?state=authenticated&transport=websocket')).total, 1)
  t.equal((await get('?domain=LOCALHOST')).total, 4)
  t.equal((await get('?remote=127.0.0.9')).total, 0)

  const first = await get('?limit=3')
  t.equal(first.sessions.length, 3)
  t.type(first.next, 'number')
  const second = await get(`?limit=3&after=${first.next}`)
  t.equal(second.sessions.length, 1)
  t.equal(second.next, null)
  t.same(new Set([...first.sessions, ...second.sessions].map((s) => s.id)).size, 4, 'pages do not overlap')

  for (const bad of ['?limit=0', '?limit=1001', '?transport=carrier-pigeon', '?state=sleepy', '?after=-1']) {
    const response = await fetch(`${cw.adminUrl}/admin/sessions${bad}`, { headers: auth })
    t.equal(response.status, 400, bad)
  }

  // End the raw WebSocket session: policy-violation by default, through the terminate path.
  const rawSession = all.sessions.find((s) => s.origin === 'https://chat.example')
  const killed = await fetch(`${cw.adminUrl}/admin/sessions/${rawSession?.id}`, { method: 'DELETE', headers: auth })
  t.equal(killed.status, 204)
  const closed = await raw.closed
  t.equal(closed.code, 1000)
  t.match(raw.messages.join(''), /<stream:error[^>]*><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/><text[^>]*>session ended by the operator<\/text><\/stream:error>/)

  // A BOSH session with a condition of the operator's choice; one XEP-0124 does not know is refused.
  t.equal((await fetch(`${cw.adminUrl}/admin/sessions/${bosh?.id}?condition=not-well-formed`, { method: 'DELETE', headers: auth })).status, 400, 'not a BOSH condition')
  t.equal((await fetch(`${cw.adminUrl}/admin/sessions/${bosh?.id}?condition=see-other-uri`, { method: 'DELETE', headers: auth })).status, 204)
  t.equal((await fetch(`${cw.adminUrl}/admin/sessions/0123456789abcdef`, { method: 'DELETE', headers: auth })).status, 404)

  const lines = await eventually('two killed lines', () => {
    const found = cw.logLines().filter((l) => l.msg === 'session ended' && l.reason === 'killed')
    return found.length >= 2 ? found : undefined
  })
  t.same(lines.map((l) => [l.transport, l.condition]).sort(), [['bosh', 'see-other-uri'], ['websocket', 'policy-violation']])
  t.equal(cw.logLines().filter((l) => l.msg === 'session ended by the admin API').length, 2, 'each kill is logged with who asked')
  t.equal((await get()).total, 2, 'the two others live on')
  raw2.socket.close()
})
