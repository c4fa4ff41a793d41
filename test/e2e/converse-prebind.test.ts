/**
 * Converse.js with `authentication: 'prebind'` in Chromium: the page knows
 * no password. Its site (the page server, playing the web application)
 * answers `prebind_url` by asking Causeway's admin API, with the admin
 * token, to log alice in; Converse attaches to `{ jid, sid, rid }` over
 * BOSH and chats with bob both ways. Screenshot: test-artifacts/converse-prebind.png.
 */
import { xml } from '@xmpp/client'
import t from 'tap'
import { launchBrowser } from '../helpers/browser.js'
import { startCauseway } from '../helpers/causeway.js'
import { startConversePage } from '../helpers/converse-page.js'
import { freePort } from '../helpers/ports.js'
import { prebindOrThrow } from '../helpers/prebind.js'
import { startProsody } from '../helpers/prosody.js'
import { befriend, connectClient } from '../helpers/xmpp-client.js'

const TOKEN = 'converse-prebind-token-0a1b2c3d4e'
const ALICE = { username: 'alice', password: 'alice-never-in-the-page-77' }
const BOB = { username: 'bob', password: 'bob-prebind-pw' }

t.test('Converse.js attaches to a prebound BOSH session and chats', async (t) => {
  const prosody = await startProsody({ users: [ALICE, BOB] })
  t.teardown(() => prosody.stop())
  await befriend(`xmpp://127.0.0.1:${prosody.c2sPort}`, ALICE, BOB)
  const site = await startConversePage()
  t.teardown(() => site.stop())
  const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`], allowedOrigin: [site.origin], adminPort: await freePort(), adminToken: TOKEN })
  t.teardown(() => cw.stop())

  // The web application's side: its user is alice; the password and the token stay on the server.
  let prebinds = 0
  site.json('/prebind', async () => {
    prebinds += 1
    return { body: await prebindOrThrow(cw.adminUrl ?? '', TOKEN, { jid: 'alice@localhost', password: ALICE.password }) }
  })

  const bob = await connectClient({ service: cw.wsUrl, ...BOB, resource: 'node' })
  t.teardown(() => bob.stop())
  await bob.xmpp.send(xml('presence'))

  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const page = browser.page
  await page.goto(
    site.page({
      bosh_service_url: cw.boshUrl,
      jid: 'alice@localhost',
      authentication: 'prebind',
      prebind_url: `${site.origin}/prebind`,
      auto_login: true,
      allow_logout: false,
      auto_reconnect: false,
      view_mode: 'fullscreen',
      loglevel: 'warn',
    }),
  )
  const outcome = await page.waitForFunction(
    () => {
      const hooks = window.causewayTest
      if (hooks?.error) return `converse.initialize failed: ${hooks.error}`
      if (hooks?.events.includes('connected')) return 'connected'
      const failed = hooks?.statuses.find((s) => ['CONNFAIL', 'AUTHFAIL', 'DISCONNECTED'].includes(s.status))
      return failed ? `${failed.status} ${failed.message ?? ''}` : undefined
    },
    null,
    { timeout: 30_000 },
  )
  t.equal(await outcome.jsonValue(), 'connected', `Converse attached\n${browser.diagnostics()}`)
  const statuses = await page.evaluate(() => (window.causewayTest?.statuses ?? []).map((s) => s.status))
  t.ok(statuses.includes('ATTACHED'), `through Strophe's attach(): ${statuses.join(' ')}`)
  t.equal(await page.evaluate(() => window.causewayTest?.transport()), 'bosh')
  t.equal(prebinds, 1, 'one prebind for one page load')

  // bob → alice: shown in the browser.
  const online = await bob.waitForPresence('alice@localhost', 20_000)
  await page.locator('converse-roster a.open-chat[data-jid="bob@localhost"]').click()
  const box = page.locator('converse-chat[jid="bob@localhost"] textarea.chat-textarea')
  await box.waitFor()
  await bob.xmpp.send(xml('message', { to: online.attrs.from, type: 'chat' }, xml('body', {}, 'hello, prebound alice')))
  await page.waitForFunction(() => [...document.querySelectorAll('converse-chat[jid="bob@localhost"] .chat-msg__text')].some((el) => el.textContent === 'hello, prebound alice'), null, { timeout: 15_000 })
  // alice → bob: typed in Converse.
  await box.fill('hello from Converse, no password in this page')
  await box.press('Enter')
  const [atBob] = await bob.waitForMessages(1, 15_000)
  t.equal(atBob?.getChildText('body'), 'hello from Converse, no password in this page')
  t.match(atBob?.attrs.from, /^alice@localhost\/prebind|^alice@localhost\/./)

  await page.screenshot({ path: 'test-artifacts/converse-prebind.png' })
  const html = await page.content()
  t.notMatch(html, new RegExp(ALICE.password), 'the password never reached the browser')
  t.same(browser.blockedRequests, [], 'nothing beyond this machine')
  t.match(cw.logLines().find((l) => l.msg === 'prebind'), { result: 'ok' })
})
