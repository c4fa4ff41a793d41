/**
 * XEP-0198 through Causeway: stream management is end to end between the
 * client and Prosody, and Causeway must keep out of its way. In particular a
 * WebSocket that dies without an RFC 7395 <close/> must NOT end the upstream
 * XMPP stream (no </stream:stream>), or Prosody would destroy the session
 * instead of hibernating it and the client could not resume.
 */
import t from 'tap'
import { xml } from '@xmpp/client'
import type { Element } from 'ltx'
import { startProsody } from '../helpers/prosody.js'
import type { RunningProsody } from '../helpers/prosody.js'
import { startCauseway } from '../helpers/causeway.js'
import { connectClient } from '../helpers/xmpp-client.js'
import type { TestClient } from '../helpers/xmpp-client.js'
import { Waiters } from '../helpers/wait.js'

const SM = 'urn:xmpp:sm:3'
const ALICE = { username: 'alice', password: 'alice-sm-pw-1' }
const BOB = { username: 'bob', password: 'bob-sm-pw-2' }
const CAROL = { username: 'carol', password: 'carol-sm-pw-3' }

/** The parts of @xmpp/client used here that test/types/xmpp-client.d.ts does not declare. */
interface SmView {
  streamManagement: {
    enabled: boolean
    id: string
    inbound: number
    outbound: number
    on(event: 'resumed', listener: () => void): void
  }
  reconnect: { reconnect(): Promise<void> }
  socket: { socket: { terminate(): void; readyState: number } | null } | null
  on(event: 'element' | 'send', listener: (element: Element) => void): void
  once(event: 'disconnect', listener: (info: { clean: boolean }) => void): void
}

const body = (i: number) => `sm message ${i} <&> ✓`

/** Poll (no fixed sleeps) until `ready()` holds. */
async function pollUntil(ready: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

const count = (text: string, needle: string) => text.split(needle).length - 1

/** Bob's iq ping to the server: once answered, every stanza bob sent before it has been routed by Prosody. */
async function barrier(bob: TestClient, domain: string): Promise<void> {
  const pong = await bob.xmpp.iqCaller.request(xml('iq', { type: 'get', to: domain }, xml('ping', { xmlns: 'urn:xmpp:ping' })))
  if (pong.attrs.type !== 'result') throw new Error(`ping barrier failed: ${pong.toString()}`)
}

t.test('XEP-0198 resumption through Causeway WebSocket', async (t) => {
  const prosody: RunningProsody = await startProsody({
    users: [ALICE, BOB, CAROL],
    modules: ['smacks'],
    // Long enough for the test, short enough that nothing lingers.
    extraConfig: 'smacks_hibernation_time = 60',
    scramIterations: 1000,
  })
  t.teardown(() => prosody.stop())
  const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`] })
  t.teardown(() => cw.stop())
  const clients: TestClient[] = []
  t.teardown(async () => {
    for (const c of clients) await c.stop().catch(() => {})
  })

  t.test('abrupt WebSocket loss, messages while away, resume on a new WebSocket', async (t) => {
    const alice = await connectClient({ service: cw.wsUrl, ...ALICE, resource: 'sm-web' })
    clients.push(alice)
    const bob = await connectClient({ service: cw.wsUrl, ...BOB, resource: 'sender' })
    clients.push(bob)
    const x = alice.xmpp as unknown as SmView
    const sm = x.streamManagement

    // Everything alice receives and sends, as elements.
    const received: Element[] = []
    const sent: Element[] = []
    const waiters = new Waiters()
    x.on('element', (el) => {
      received.push(el)
      waiters.wake()
    })
    x.on('send', (el) => sent.push(el))
    const resumedEvents: number[] = []
    sm.on('resumed', () => {
      resumedEvents.push(Date.now())
      waiters.wake()
    })

    t.equal(alice.jid, 'alice@localhost/sm-web', 'alice is bound')
    // @xmpp/client goes online after binding and enables stream management right after.
    await pollUntil(() => sm.enabled, 5000, () => '<enabled/>')
    t.ok(sm.enabled, 'stream management was enabled through Causeway')
    t.match(sm.id, /^.{4,}$/, 'with a resumption id (resume="true" accepted)')
    const smId = sm.id
    const fullJid = alice.jid

    // Phase 1: live traffic both ways.
    for (let i = 0; i < 5; i++) await bob.xmpp.send(xml('message', { to: fullJid, type: 'chat', id: `m${i}` }, xml('body', {}, body(i))))
    await alice.waitForMessages(5)
    for (let i = 0; i < 2; i++) await alice.xmpp.send(xml('message', { to: bob.jid, type: 'chat', id: `a${i}` }, xml('body', {}, `from alice ${i}`)))
    const fromAlice = await bob.waitForMessages(2)
    t.same(fromAlice.map((m) => m.attrs.from), [fullJid, fullJid], 'alice\'s messages carry her full JID')
    const inboundAtBreak = sm.inbound
    t.ok(inboundAtBreak >= 5, `alice counted the stanzas she handled (h=${inboundAtBreak})`)

    // Phase 2: the connection to Causeway dies without <close/>.
    const ws = x.socket?.socket
    if (!ws) throw new Error('no underlying WebSocket')
    const sessionsBefore = cw.causeway.websocket.sessions.size
    t.equal(sessionsBefore, 2, 'two WebSocket sessions in Causeway')
    const disconnected = new Promise<{ clean: boolean }>((resolve) => x.once('disconnect', resolve))
    const receivedAtBreak = received.length
    ws.terminate()
    const info = await disconnected
    t.equal(info.clean, false, 'the client saw an unclean disconnect (no <close/>)')
    t.notOk(sent.slice(-1)[0]?.is('close'), 'no <close/> was sent')

    // Phase 3: messages sent right away race with the close reaching Prosody…
    for (let i = 5; i < 10; i++) await bob.xmpp.send(xml('message', { to: fullJid, type: 'chat', id: `m${i}` }, xml('body', {}, body(i))))
    await pollUntil(() => cw.causeway.websocket.sessions.size === sessionsBefore - 1, 5000, () => 'Causeway to drop alice\'s session')
    await pollUntil(() => prosody.logs().includes('Session going into hibernation'), 10_000, () => 'Prosody to hibernate alice\'s session')
    // …and these certainly reach a hibernating session.
    for (let i = 10; i < 15; i++) await bob.xmpp.send(xml('message', { to: fullJid, type: 'chat', id: `m${i}` }, xml('body', {}, body(i))))
    await barrier(bob, 'localhost')
    t.equal(alice.messages.length, 5, 'nothing reached alice while she was away')
    const logsBeforeResume = prosody.logs()
    t.notOk(logsBeforeResume.includes('Revoking resumption token'), 'Prosody did not close the session (Causeway sent no </stream:stream>)')
    t.equal(count(logsBeforeResume, 'Session going into hibernation'), 1, 'Prosody hibernated the session once')

    // Phase 4: resume through a NEW Causeway WebSocket connection.
    await x.reconnect.reconnect()
    await waiters.until(
      () => (resumedEvents.length > 0 || received.slice(receivedAtBreak).some((el) => el.is('failed', SM)) ? true : undefined),
      15_000,
      () => `<resumed/> (got ${received.slice(receivedAtBreak).map((el) => el.name).join(' ')})`,
    )
    const after = received.slice(receivedAtBreak)
    const sentAfter = sent.slice(sent.findIndex((el) => el.is('resume', SM)))
    const resume = sent.find((el) => el.is('resume', SM))
    t.ok(resume, 'the client sent <resume/>')
    t.same(resume?.attrs, { xmlns: SM, previd: smId, h: inboundAtBreak }, '<resume previd h/> with the old id and alice\'s count')
    const resumed = after.find((el) => el.is('resumed', SM))
    t.ok(resumed, '<resumed/> came back through Causeway')
    t.equal(resumed?.attrs.previd, smId, 'for the same session id')
    t.equal(resumed?.attrs.h, '2', 'Prosody had handled alice\'s 2 outbound messages')
    t.notOk(after.some((el) => el.is('failed', SM)), 'no <failed/>')
    t.notOk(after.some((el) => el.is('enabled', SM)), 'no new stream management session')
    t.notOk(sentAfter.some((el) => el.is('iq') && el.getChild('bind', 'urn:ietf:params:xml:ns:xmpp-bind')), 'no resource binding after the resume (not a fresh login)')
    t.equal(resumedEvents.length, 1, 'one resumed event')
    t.equal(sm.id, smId, 'the stream management id is unchanged')
    t.ok(sm.enabled, 'stream management is active again')
    t.equal(cw.causeway.websocket.sessions.size, sessionsBefore, 'alice is back on a new Causeway WebSocket session')

    // Phase 5: one more live message after the resume. The resent backlog comes before it, so once it
    // has arrived, any lost or duplicated message would show.
    await bob.xmpp.send(xml('message', { to: fullJid, type: 'chat', id: 'm15' }, xml('body', {}, body(15))))
    await alice.waitForMessages(16)
    await barrier(bob, 'localhost')
    t.same(alice.messages.map((m) => m.getChildText('body')), Array.from({ length: 16 }, (_, i) => body(i)), 'all 16 bodies, once each, in order')
    t.same(alice.messages.map((m) => m.attrs.id), Array.from({ length: 16 }, (_, i) => `m${i}`), 'ids in order')
    t.equal(alice.messages.length, 16, 'no duplicates')
    t.ok(sm.inbound >= 16, `alice's h keeps counting across the resume (h=${sm.inbound})`)

    // The resumed session is the same resource: the server still routes to and from the old full JID.
    await alice.xmpp.send(xml('message', { to: bob.jid, type: 'chat', id: 'a2' }, xml('body', {}, 'back again')))
    const back = (await bob.waitForMessages(3))[2]
    t.equal(back?.getChildText('body'), 'back again')
    t.equal(back?.attrs.from, fullJid, 'alice\'s stanzas after the resume come from the same full JID')
    const pong = await bob.xmpp.iqCaller.request(xml('iq', { type: 'get', to: fullJid }, xml('ping', { xmlns: 'urn:xmpp:ping' })))
    t.equal(pong.attrs.type, 'result', 'an iq to the old full JID is answered')
    t.equal(pong.attrs.from, fullJid, 'by the resumed session')

    const logs = prosody.logs()
    t.ok(logs.includes('mod_smacks session resumed from'), 'Prosody logged the resumption')
    t.notOk(logs.includes('Destroying session for hibernating too long'), 'the session never expired')
    const metrics = await cw.causeway.metrics.registry.metrics()
    t.match(metrics, /causeway_session_closes_total\{transport="websocket",reason="client-gone",condition="normal"\} 1/, 'Causeway counted the vanished client once')
  })

  t.test('control: after a clean <close/> the session is gone and resumption fails', async (t) => {
    // Shows the test above could fail: ending the XMPP stream (what Causeway must not do on an
    // abrupt close) makes Prosody revoke the resumption token.
    const first = await connectClient({ service: cw.wsUrl, ...CAROL, resource: 'once' })
    clients.push(first)
    const firstSm = (first.xmpp as unknown as SmView).streamManagement
    await pollUntil(() => firstSm.enabled, 5000, () => '<enabled/>')
    const oldId = firstSm.id
    t.ok(oldId, 'stream management enabled')
    const revokedBefore = count(prosody.logs(), 'Revoking resumption token')
    await first.stop()
    await pollUntil(() => count(prosody.logs(), 'Revoking resumption token') > revokedBefore, 5000, () => 'Prosody to revoke the token')

    // A new connection tries to resume the cleanly closed session.
    const { client } = await import('@xmpp/client')
    const xmpp = client({ service: cw.wsUrl, domain: 'localhost', resource: 'again', username: CAROL.username, password: CAROL.password })
    xmpp.reconnect.stop()
    xmpp.on('error', () => {})
    const view = xmpp as unknown as SmView
    view.streamManagement.id = oldId
    const inbound: Element[] = []
    view.on('element', (el) => inbound.push(el))
    const address = await xmpp.start()
    t.teardown(() => xmpp.stop().catch(() => {}))
    const failed = inbound.find((el) => el.is('failed', SM))
    t.ok(failed, '<failed/> for the revoked session')
    t.ok(failed?.getChild('item-not-found', 'urn:ietf:params:xml:ns:xmpp-stanzas'), 'item-not-found')
    t.notOk(inbound.some((el) => el.is('resumed', SM)), 'not resumed')
    t.equal(address.toString(), 'carol@localhost/again', 'the client fell back to a fresh bind')
  })
})
