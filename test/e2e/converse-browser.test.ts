/**
 * Converse.js 14 in Debian's Chromium, through Causeway, to a real Prosody.
 * A browser user logs in over BOSH or WebSocket from a page on another
 * origin (real CORS preflights, real Origin checks), chats with bob (a Node
 * client), reloads the page (BOSH keepalive); the same page behind the site's
 * own reverse proxy (same origin); BOSH with credentials; and a page whose
 * origin is not allowed, turned away on both transports.
 *
 * The Converse settings here are the ones docs/clients.md shows. Screenshots
 * of every page go to test-artifacts/converse-*.png.
 */
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { Test } from 'tap'
import { xml } from '@xmpp/client'
import type { Element } from 'ltx'
import { errors } from 'playwright-core'
import type { Page } from 'playwright-core'
import { loggableId } from '../../src/observability/logger.js'
import { launchBrowser } from '../helpers/browser.js'
import type { BrowserSession } from '../helpers/browser.js'
import { startCauseway } from '../helpers/causeway.js'
import type { RunningCauseway } from '../helpers/causeway.js'
import { startConversePage } from '../helpers/converse-page.js'
import type { ConversePageServer, ConverseSettings } from '../helpers/converse-page.js'
import { startProsody } from '../helpers/prosody.js'
import type { RunningProsody } from '../helpers/prosody.js'
import { befriend, connectClient } from '../helpers/xmpp-client.js'
import type { TestClient } from '../helpers/xmpp-client.js'

const ALICE = { username: 'alice', password: 'alice-pw-1' }
const BOB = { username: 'bob', password: 'bob-pw-2' }
const ALICE_JID = 'alice@localhost'
const BOB_JID = 'bob@localhost'

// Unicode (Latin-1, CJK, an astral-plane emoji) and XML's special characters, which must
// travel as text: escaped on the wire, shown as typed. No *, _, ~, ` or :word: (Converse would style them).
const TO_BOB = 'Grüße 👋 <b>&amp; "quotes"'
const TO_ALICE = 'Ça va ✓ 中文 </body><i>&lt;&gt; & \'apos\''
const WHILE_RELOADING = 'sent while the page reloads ⟳ <&>'
const AFTER_RELOAD = 'after the reload → <ok/> & done'
const REPLY_AFTER_RELOAD = 'still here ✔ "<&>"'

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url))
mkdirSync(ARTIFACTS, { recursive: true })

/** Converse boots and connects in 2–3 s on an idle machine; this bound is for a busy one. */
const BOOT_TIMEOUT_MS = 30_000
/** Waiting for what should already be on its way (a message, a render). */
const ARRIVAL_TIMEOUT_MS = 15_000
/** After a count is reached: time for a duplicate to show up, if one were coming. */
const SETTLE_MS = 500

type Transport = 'bosh' | 'websocket'

interface Shown {
  /** Bare JID of the sender. */
  readonly from: string
  readonly text: string
}

t.test('Converse.js in Chromium, through Causeway, to Prosody', async (t) => {
  const prosody = await startProsody({ users: [ALICE, BOB] })
  t.teardown(() => prosody.stop())
  await befriend(`xmpp://127.0.0.1:${prosody.c2sPort}`, ALICE, BOB)
  // The page's origin (its own port) is never Causeway's: every request is cross-origin.
  const site = await startConversePage()
  t.teardown(() => site.stop())

  for (const transport of ['bosh', 'websocket'] as const) {
    t.test(`over ${transport === 'bosh' ? 'BOSH' : 'WebSocket'}, cross-origin: alice chats with bob, text arrives exactly as typed, once`, async (t) => {
      const { bob, browser, page } = await converseSession(t, prosody, site, transport)
      t.equal(await connectedTransport(page), transport, `Converse is connected over ${transport}`)

      await openChat(page, BOB_JID)
      await send(page, BOB_JID, TO_BOB)
      const [atBob] = await bob.waitForMessages(1, ARRIVAL_TIMEOUT_MS)
      t.equal(atBob?.getChildText('body'), TO_BOB, 'bob receives the body exactly as alice typed it')
      t.match(atBob?.attrs.from, /^alice@localhost\/./, 'from alice’s Converse resource')

      await bob.xmpp.send(chat(atBob?.attrs.from, TO_ALICE))
      const conversation = [
        { from: ALICE_JID, text: TO_BOB },
        { from: BOB_JID, text: TO_ALICE },
      ]
      t.same(await waitForShown(page, BOB_JID, conversation), conversation, 'alice’s chat shows her message, then bob’s reply, exactly as sent')
      t.same(bodies(bob.messages), [TO_BOB], 'bob got exactly one message')
      t.same(await connectionEvents(page), ['connected'], 'one connection, no reconnects or drops')
      t.same(browser.blockedRequests, [], 'the page made no request beyond loopback')
    })
  }

  t.test('BOSH keepalive: a reload reattaches to the same session; nothing lost, nothing doubled', async (t) => {
    const { cw, bob, browser, page, url } = await converseSession(t, prosody, site, 'bosh', 'converse-bosh-reload')
    await openChat(page, BOB_JID)
    await send(page, BOB_JID, TO_BOB)
    const [first] = await bob.waitForMessages(1, ARRIVAL_TIMEOUT_MS)
    const aliceFullJid = String(first?.attrs.from)
    await bob.xmpp.send(chat(aliceFullJid, TO_ALICE))
    const beforeReload = [
      { from: ALICE_JID, text: TO_BOB },
      { from: BOB_JID, text: TO_ALICE },
    ]
    t.same(await waitForShown(page, BOB_JID, beforeReload), beforeReload, 'a first exchange before the reload')

    const before = await boshSession(page)
    t.ok(before.sid, 'Converse has a BOSH sid')
    t.same(before.stored && { jid: before.stored.jid, sid: before.stored.sid }, { jid: aliceFullJid, sid: before.sid }, 'Strophe keeps jid and sid in sessionStorage (strophe-bosh-session)')

    // The reload: the old document, and with it the BOSH request it had held open, is gone
    // as soon as the new one asks for its boot script; Converse starts only when we let it.
    const boot = site.holdBoot()
    const reloaded = page.reload()
    await boot.requested
    const toClient = { transport: 'bosh', direction: 'to_client' }
    const relayed = await metric(cw, 'causeway_stanzas_total', toClient)
    await bob.xmpp.send(chat(aliceFullJid, WHILE_RELOADING))
    await waitForMetric(cw, 'causeway_stanzas_total', toClient, relayed + 1)
    boot.release()
    await reloaded
    await loggedIn(page)

    const after = await boshSession(page)
    t.same(await statuses(page), ['ATTACHED'], 'the new page reattached (Strophe restore): no new connection, no new login')
    t.equal(after.sid, before.sid, 'with the same BOSH sid')
    t.equal(after.stored?.jid, aliceFullJid, 'and the same resource')
    const created = cw.logLines().filter((line) => line.msg === 'bosh session created')
    t.same(created.map((line) => line.sid), [loggableId(before.sid ?? '')], 'Causeway created exactly one BOSH session, that one')
    t.equal(site.requests.filter((r) => r === `GET ${new URL(url).pathname} 200`).length, 2, 'the page really was loaded twice')

    const afterReload = [...beforeReload, { from: BOB_JID, text: WHILE_RELOADING }]
    t.same(await waitForShown(page, BOB_JID, afterReload), afterReload, 'the message bob sent during the reload is shown once, after the history from before it')

    await send(page, BOB_JID, AFTER_RELOAD)
    const atBob = await bob.waitForMessages(2, ARRIVAL_TIMEOUT_MS)
    t.equal(atBob[1]?.attrs.from, aliceFullJid, 'alice still sends from the same resource')
    await bob.xmpp.send(chat(aliceFullJid, REPLY_AFTER_RELOAD))
    const all = [...afterReload, { from: ALICE_JID, text: AFTER_RELOAD }, { from: BOB_JID, text: REPLY_AFTER_RELOAD }]
    t.same(await waitForShown(page, BOB_JID, all), all, 'after the reload alice can still send and receive')
    t.same(bodies(bob.messages), [TO_BOB, AFTER_RELOAD], 'bob got each of alice’s messages exactly once')

    const metrics = await metricsText(cw)
    t.match(metrics, /^causeway_sessions_total\{transport="bosh"\} 1$/m, '/metrics: one BOSH session was ever started')
    t.match(metrics, /^causeway_sessions_open\{transport="bosh"\} 1$/m, '/metrics: and it is still open')
    t.same(browser.blockedRequests, [], 'the page made no request beyond loopback')
  })

  t.test('same origin, behind the site’s reverse proxy: allowedOrigin must still list the site', async (t) => {
    // The site serves the page and relays /http-bind and /xmpp-websocket to Causeway, as nginx would:
    // no CORS at all, but browsers send Origin on every POST and every WebSocket handshake.
    const proxied = await startConversePage()
    t.teardown(() => proxied.stop())
    const open = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`], allowedOrigin: [proxied.origin] })
    t.teardown(() => open.stop())
    const closed = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`], allowedOrigin: ['https://chat.example.org'] })
    t.teardown(() => closed.stop())
    const browser = await launchBrowser()
    t.teardown(() => closeBrowser(t, browser))
    const sameOrigin: Record<Transport, ConverseSettings> = {
      bosh: { bosh_service_url: `${proxied.origin}/http-bind` },
      websocket: { websocket_url: `${proxied.origin.replace(/^http/, 'ws')}/xmpp-websocket` },
    }

    for (const transport of ['bosh', 'websocket'] as const) {
      proxied.forward(transport === 'bosh' ? '/http-bind' : '/xmpp-websocket', open.httpUrl)
      const page = await tab(browser, `converse-same-origin-${transport}`)
      await page.goto(proxied.page({ ...aliceSettings(), ...sameOrigin[transport] }))
      await loggedIn(page)
      t.equal(await connectedTransport(page), transport, `${transport}: logged in through the site’s own origin`)
      await retire(page)
    }
    const metrics = await metricsText(open)
    t.match(metrics, /^causeway_sessions_total\{transport="bosh"\} 1$/m, 'one BOSH session, relayed by the site')
    t.match(metrics, /^causeway_sessions_total\{transport="websocket"\} 1$/m, 'one WebSocket session, relayed by the site')
    t.notOk(browser.consoleErrors.some((e) => /CORS/.test(e)), 'no CORS involved')

    // The same page and proxy in front of a Causeway whose allowedOrigin does not list the site.
    const refused: Record<Transport, { outcome: unknown; console: RegExp }> = {
      // Same-origin, Strophe reads the 403 itself and stops at once (no retries); Converse shows its login form, without a message.
      bosh: { outcome: { status: 'DISCONNECTED', message: null }, console: /the server responded with a status of 403 \(Forbidden\)/ },
      websocket: {
        outcome: { status: 'CONNFAIL', message: 'The WebSocket connection could not be established or was disconnected.' },
        console: /Error during WebSocket handshake: Unexpected response code: 403/,
      },
    }
    for (const transport of ['bosh', 'websocket'] as const) {
      proxied.forward(transport === 'bosh' ? '/http-bind' : '/xmpp-websocket', closed.httpUrl)
      const page = await tab(browser, `converse-same-origin-refused-${transport}`)
      await page.goto(proxied.page({ ...aliceSettings(), ...sameOrigin[transport] }))
      t.same(await connectionFailure(page), refused[transport].outcome, `${transport}: refused when allowedOrigin lacks the site’s own origin`)
      t.match(browser.consoleErrors.join('\n'), refused[transport].console, `${transport}: the browser saw the 403`)
      t.notOk((await connectionEvents(page)).includes('connected'), `${transport}: never connected`)
      await retire(page)
    }
    const refusals = await metricsText(closed)
    t.match(refusals, /^causeway_refusals_total\{transport="bosh",reason="origin"\} 1$/m, 'the same-origin BOSH request carried Origin and was refused')
    t.match(refusals, /^causeway_refusals_total\{transport="websocket",reason="origin"\} 1$/m, 'so did the WebSocket handshake')
    t.same(browser.blockedRequests, [], 'the page made no request beyond loopback')
  })

  t.test('BOSH with credentials (withCredentials): needs corsAllowCredentials', async (t) => {
    const withCredentials = await startCauseway({
      upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`],
      allowedOrigin: [site.origin],
      corsAllowCredentials: true,
    })
    t.teardown(() => withCredentials.stop())
    const without = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`], allowedOrigin: [site.origin] })
    t.teardown(() => without.stop())
    const browser = await launchBrowser()
    t.teardown(() => closeBrowser(t, browser))
    // Strophe's XHRs then carry cookies (and send them cross-origin only if the answer allows it).
    const credentialed = { ...aliceSettings(), connection_options: { withCredentials: true } }

    const refused = await tab(browser, 'converse-bosh-credentials-refused')
    await refused.goto(site.page({ ...credentialed, bosh_service_url: without.boshUrl }, { stropheMaxRetries: 0 }))
    t.same(await connectionFailure(refused), { status: 'CONNFAIL', message: 'giving-up' }, 'without corsAllowCredentials the connection fails')
    t.match(
      browser.consoleErrors.join('\n'),
      /Response to preflight request doesn't pass access control check: The value of the 'Access-Control-Allow-Credentials' header in the response is '' which must be 'true'/,
      'the browser rejects Causeway’s preflight answer: no Access-Control-Allow-Credentials',
    )
    t.notMatch(await metricsText(without), /^causeway_sessions_total\{[^}]*\} [1-9]/m, 'so the POST never left the browser: no session')
    await retire(refused)

    const allowed = await tab(browser, 'converse-bosh-credentials')
    await allowed.goto(site.page({ ...credentialed, bosh_service_url: withCredentials.boshUrl }))
    await loggedIn(allowed)
    t.equal(await connectedTransport(allowed), 'bosh', 'with corsAllowCredentials: true, Converse logs in')
    t.same(browser.blockedRequests, [], 'the page made no request beyond loopback')
  })

  t.test('an Origin not in allowedOrigin is refused on both transports', async (t) => {
    // The same machine under another name: http://localhost:<port> is not http://127.0.0.1:<port>.
    const elsewhere = await startConversePage({ host: 'localhost' })
    t.teardown(() => elsewhere.stop())
    const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`], allowedOrigin: [site.origin] })
    t.teardown(() => cw.stop())
    const browser = await launchBrowser()
    t.teardown(() => closeBrowser(t, browser))
    t.not(elsewhere.origin, site.origin)

    const expected: Record<Transport, { settings: ConverseSettings; message: string; console: RegExp }> = {
      bosh: {
        settings: { bosh_service_url: cw.boshUrl },
        // Strophe's own words once it stops retrying; the browser hides the 403 behind CORS.
        message: 'giving-up',
        // Causeway refuses the preflight (403, no Access-Control-Allow-Origin), so the POST is never sent.
        console: /Response to preflight request doesn't pass access control check: No 'Access-Control-Allow-Origin' header/,
      },
      websocket: {
        settings: { websocket_url: cw.wsUrl },
        message: 'The WebSocket connection could not be established or was disconnected.',
        console: /Error during WebSocket handshake: Unexpected response code: 403/,
      },
    }
    for (const transport of ['bosh', 'websocket'] as const) {
      const { settings, message, console } = expected[transport]
      const page = await tab(browser, `converse-origin-refused-${transport}`)
      // Strophe retries a failed BOSH request with a cubic back-off for minutes; give up at once.
      await page.goto(elsewhere.page({ ...aliceSettings(), ...settings }, { stropheMaxRetries: 0 }))
      t.same(await connectionFailure(page), { status: 'CONNFAIL', message }, `${transport}: the connection fails`)
      t.equal((await page.locator('.conn-feedback.alert-danger').textContent())?.trim(), message, `${transport}: Converse shows the failure above its login form`)
      t.notOk((await connectionEvents(page)).includes('connected'), `${transport}: never connected`)
      t.match(browser.consoleErrors.join('\n'), console, `${transport}: the browser reports the refusal`)
      await retire(page)
    }

    const metrics = await metricsText(cw)
    t.match(metrics, /^causeway_refusals_total\{transport="bosh",reason="origin"\} 1$/m, 'one BOSH request (the preflight) refused for its origin')
    t.match(metrics, /^causeway_refusals_total\{transport="websocket",reason="origin"\} 1$/m, 'one WebSocket upgrade refused for its origin')
    t.notMatch(metrics, /^causeway_sessions_total\{[^}]*\} [1-9]/m, 'no session was started')
    t.same(browser.blockedRequests, [], 'the page made no request beyond loopback')
  })
})

// ---------------------------------------------------------------------------

function aliceSettings(): ConverseSettings {
  return {
    jid: ALICE_JID,
    password: ALICE.password,
    auto_login: true,
    // A drop must fail the test, not be papered over by a reconnect.
    auto_reconnect: false,
    view_mode: 'fullscreen',
    loglevel: 'warn',
  }
}

/** Causeway in front of Prosody for this page's origin, bob online through it, alice logged in in Chromium. */
async function converseSession(
  t: Test,
  prosody: RunningProsody,
  site: ConversePageServer,
  transport: Transport,
  artifact = `converse-${transport}`,
): Promise<{ cw: RunningCauseway; bob: TestClient; browser: BrowserSession; page: Page; url: string }> {
  const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`], allowedOrigin: [site.origin] })
  t.teardown(() => cw.stop())
  const bob = await connectClient({ service: cw.wsUrl, ...BOB, resource: 'node' })
  t.teardown(() => bob.stop())
  await bob.xmpp.send(xml('presence'))
  const browser = await launchBrowser()
  t.teardown(() => closeBrowser(t, browser, artifact))
  const settings: ConverseSettings =
    transport === 'bosh'
      ? { ...aliceSettings(), bosh_service_url: cw.boshUrl, keepalive: true }
      : { ...aliceSettings(), websocket_url: cw.wsUrl }
  const url = site.page(settings)
  await browser.page.goto(url)
  await loggedIn(browser.page)
  return { cw, bob, browser, page: browser.page, url }
}

/**
 * A fresh tab for one page, so no page sees what an earlier one left in sessionStorage (Converse would
 * restore an earlier BOSH session). Its screenshot goes to test-artifacts/<artifact>.png when the browser closes.
 */
async function tab(browser: BrowserSession, artifact: string): Promise<Page> {
  const page = await browser.newPage()
  tabArtifacts.set(page, artifact)
  return page
}

const tabArtifacts = new WeakMap<Page, string>()

/** Done with a tab: its screenshot, then close it (an open Converse would keep polling or hold its WebSocket). */
async function retire(page: Page): Promise<void> {
  const name = tabArtifacts.get(page)
  if (name !== undefined) await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true })
  tabArtifacts.delete(page)
  await page.close()
}

/** Screenshots (pass or fail), the browser's side of the story when failing, then close. */
async function closeBrowser(t: Test, browser: BrowserSession, artifact?: string): Promise<void> {
  const shots: Array<[Page, string]> = artifact === undefined ? [] : [[browser.page, artifact]]
  for (const page of browser.context.pages()) {
    const name = tabArtifacts.get(page)
    if (name !== undefined) shots.push([page, name])
  }
  for (const [page, name] of shots) {
    try {
      await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true })
    } catch (error) {
      t.comment(`screenshot ${name}.png failed: ${String(error)}`)
    }
  }
  if (!t.passing()) t.comment(browser.diagnostics())
  await browser.close()
}

/** Waits for Converse's 'connected' event (fired on a fresh login and on a BOSH reattach alike); fails fast on a connection failure. */
async function loggedIn(page: Page): Promise<void> {
  const outcome = await page.waitForFunction(
    () => {
      const hooks = window.causewayTest
      if (hooks?.error) return `converse.initialize failed: ${hooks.error}`
      if (hooks?.events.includes('connected')) return 'connected'
      const failed = hooks?.statuses.find((s) => ['CONNFAIL', 'AUTHFAIL', 'DISCONNECTED'].includes(s.status))
      return failed ? `Converse did not connect: ${failed.status} ${failed.message ?? ''}` : undefined
    },
    null,
    { timeout: BOOT_TIMEOUT_MS },
  )
  const result = await outcome.jsonValue()
  if (result !== 'connected') throw new Error(String(result))
}

/** The first status that ends a connection attempt (CONNFAIL or DISCONNECTED), with Converse's message for it. */
async function connectionFailure(page: Page): Promise<unknown> {
  const failed = await page.waitForFunction(
    () => {
      return window.causewayTest?.statuses.find((s) => s.status === 'CONNFAIL' || s.status === 'DISCONNECTED')
    },
    null,
    { timeout: BOOT_TIMEOUT_MS },
  )
  return await failed.jsonValue()
}

async function connectedTransport(page: Page): Promise<string | undefined> {
  return await page.evaluate(() => window.causewayTest?.transport())
}

async function connectionEvents(page: Page): Promise<string[]> {
  return await page.evaluate(() => (window.causewayTest?.events ?? []).filter((e) => ['connected', 'reconnected', 'disconnected'].includes(e)))
}

async function statuses(page: Page): Promise<string[]> {
  return await page.evaluate(() => (window.causewayTest?.statuses ?? []).map((s) => s.status))
}

async function boshSession(page: Page): Promise<{ sid: string | undefined; stored: { jid: string; sid: string; rid: number } | undefined }> {
  return await page.evaluate(() => {
    const raw = sessionStorage.getItem('strophe-bosh-session')
    return {
      sid: window.causewayTest?.boshSid(),
      stored: raw === null ? undefined : (JSON.parse(raw) as { jid: string; sid: string; rid: number }),
    }
  })
}

/** Click the contact in the roster, as a user would. */
async function openChat(page: Page, jid: string): Promise<void> {
  await page.locator(`converse-roster a.open-chat[data-jid="${jid}"]`).click()
  await page.locator(`converse-chat[jid="${jid}"] textarea.chat-textarea`).waitFor()
}

async function send(page: Page, jid: string, text: string): Promise<void> {
  const box = page.locator(`converse-chat[jid="${jid}"] textarea.chat-textarea`)
  await box.fill(text)
  await box.press('Enter')
}

async function shownMessages(page: Page, jid: string): Promise<Shown[]> {
  return await page.evaluate(
    (jid) =>
      [...document.querySelectorAll(`converse-chat[jid="${jid}"] .chat-msg`)].map((el) => ({
        from: (el.getAttribute('data-from') ?? '').split('/')[0] ?? '',
        text: el.querySelector('.chat-msg__text')?.textContent ?? '',
      })),
    jid,
  )
}

/**
 * The chat's messages once `expected` can be judged: as many are shown, or the last expected one is
 * (so a lost message does not cost a timeout when later ones arrive), or the deadline passed; then
 * a little longer, for a duplicate to show up if one were coming.
 */
async function waitForShown(page: Page, jid: string, expected: readonly Shown[]): Promise<Shown[]> {
  try {
    await page.waitForFunction(
      ([jid, count, last]) => {
        const texts = [...document.querySelectorAll(`converse-chat[jid="${jid}"] .chat-msg .chat-msg__text`)].map((el) => el.textContent)
        return texts.length >= count || texts.includes(last)
      },
      [jid, expected.length, expected.at(-1)?.text ?? ''] as const,
      { timeout: ARRIVAL_TIMEOUT_MS },
    )
  } catch (error) {
    // The assertion on what is shown says what is missing.
    if (!(error instanceof errors.TimeoutError)) throw error
  }
  await page.waitForTimeout(SETTLE_MS)
  return await shownMessages(page, jid)
}

function chat(to: string | number | undefined, body: string): Element {
  return xml('message', { to: String(to), type: 'chat' }, xml('body', {}, body))
}

function bodies(messages: readonly Element[]): Array<string | null> {
  return messages.map((m) => m.getChildText('body'))
}

async function metricsText(cw: RunningCauseway): Promise<string> {
  const response = await fetch(`${cw.httpUrl}/metrics`)
  return await response.text()
}

async function metric(cw: RunningCauseway, name: string, labels: Record<string, string>): Promise<number> {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
  for (const line of (await metricsText(cw)).split('\n')) {
    const match = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line)
    if (match?.[1] === name && wanted.every((w) => match[2]?.split(',').includes(w))) return Number(match[3])
  }
  return 0
}

async function waitForMetric(cw: RunningCauseway, name: string, labels: Record<string, string>, atLeast: number): Promise<void> {
  const deadline = Date.now() + ARRIVAL_TIMEOUT_MS
  for (;;) {
    const value = await metric(cw, name, labels)
    if (value >= atLeast) return
    if (Date.now() > deadline) throw new Error(`${name}${JSON.stringify(labels)} stayed at ${value}, wanted ${atLeast}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
