/**
 * The --demo page in a real browser, as a new user meets it: open /demo/,
 * log in through Converse's own login form, see a message from bob. Over
 * WebSocket (the default) and BOSH (?transport=bosh). Same origin, so the
 * default allowedOrigin (any) applies.
 */
import { xml } from '@xmpp/client'
import t from 'tap'
import { launchBrowser } from '../helpers/browser.js'
import { startCauseway } from '../helpers/causeway.js'
import { startProsody } from '../helpers/prosody.js'
import { befriend, connectClient } from '../helpers/xmpp-client.js'

const ALICE = { username: 'alice', password: 'alice-demo-pw' }
const BOB = { username: 'bob', password: 'bob-demo-pw' }

const prosody = await startProsody({ users: [ALICE, BOB] })
t.teardown(() => prosody.stop())
// Contacts, so bob sees when alice comes online and writes only then.
await befriend(`xmpp://127.0.0.1:${prosody.c2sPort}`, ALICE, BOB)
const causeway = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`], demo: true })
t.teardown(() => causeway.stop())

for (const transport of ['websocket', 'bosh'] as const) {
  t.test(`the demo page logs in and shows a message over ${transport}`, async (t) => {
    const browser = await launchBrowser()
    t.teardown(() => browser.close())
    const page = browser.page
    await page.goto(`${causeway.httpUrl}/demo/${transport === 'bosh' ? '?transport=bosh' : ''}`)
    t.equal((await page.locator('#causeway-transport').textContent())?.startsWith(transport === 'bosh' ? 'BOSH' : 'WebSocket'), true, 'the page says which transport it uses')

    // Converse's login form: the domain is offered, so "alice" is enough.
    await page.locator('converse-login-form input[name="jid"]').fill('alice')
    await page.locator('converse-login-form input[name="password"]').fill(ALICE.password)
    await page.locator('converse-login-form [type="submit"]').click()

    // bob, from Node, writes to alice once her browser session is available.
    const bob = await connectClient({ service: causeway.wsUrl, ...BOB, resource: 'node' })
    t.teardown(() => bob.stop())
    await bob.xmpp.send(xml('presence'))
    const online = await bob.waitForPresence('alice@localhost', 30_000)
    // Fullscreen Converse renders one chat at a time: alice opens hers with bob from the roster.
    await page.locator('converse-roster a.open-chat[data-jid="bob@localhost"]').click()
    await page.locator('converse-chat[jid="bob@localhost"] textarea.chat-textarea').waitFor()
    const text = `hello over ${transport} <&> ✓`
    const deadline = Date.now() + 20_000
    let shown: string[] = []
    await bob.xmpp.send(xml('message', { to: online.attrs.from, type: 'chat' }, xml('body', {}, text)))
    while (Date.now() < deadline) {
      shown = await page.evaluate(() => [...document.querySelectorAll('converse-chat[jid="bob@localhost"] .chat-msg__text')].map((el) => el.textContent ?? ''))
      if (shown.length > 0) break
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    t.same(shown, [text], `the message appears once in alice's chat\n${browser.diagnostics()}`)
    t.same(browser.blockedRequests, [], 'the page reached nothing beyond this machine')
    t.same(browser.consoleErrors.filter((e) => /converse is not defined|SyntaxError/.test(e)), [], 'the bundle loaded')
    // The transport switch stays visible above Converse's own navbar.
    const layout = await page.evaluate(() => {
      const bar = document.getElementById('causeway-demo-bar')?.getBoundingClientRect()
      const top = bar ? document.elementFromPoint(bar.left + bar.width - 5, bar.top + bar.height / 2) : null
      const converse = document.getElementById('conversejs')?.getBoundingClientRect()
      return { barOnTop: top?.closest('#causeway-demo-bar') !== null, barBottom: bar?.bottom ?? 0, navbarTop: converse?.top ?? -1 }
    })
    t.ok(layout.barOnTop, 'nothing covers the demo bar')
    t.ok(layout.navbarTop >= layout.barBottom, `Converse (its navbar included) starts below it (${layout.navbarTop} ≥ ${layout.barBottom})`)
    await page.screenshot({ path: `test-artifacts/demo-${transport}.png` })
  })
}
