/**
 * The live status page in headless Chromium: it renders from the admin
 * listener alone (no request leaves it, none fails), and its numbers and
 * charts move when sessions open and talk. The screenshot is kept in
 * test-artifacts/status-page.png.
 */
import { xml } from '@xmpp/client'
import t from 'tap'
import { launchBrowser } from '../helpers/browser.js'
import { startCauseway } from '../helpers/causeway.js'
import { freePort } from '../helpers/ports.js'
import { startProsody } from '../helpers/prosody.js'
import { connectStrophe } from '../helpers/strophe-client.js'
import { connectClient } from '../helpers/xmpp-client.js'

const ALICE = { username: 'alice', password: 'alice-status-pw' }
const BOB = { username: 'bob', password: 'bob-status-pw' }

t.test('the status page renders and follows the sessions', async (t) => {
  const prosody = await startProsody({ users: [ALICE, BOB], scramIterations: 4096 })
  t.teardown(() => prosody.stop())
  const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`], adminPort: await freePort(), nodeId: 'node1' })
  t.teardown(() => cw.stop())
  const browser = await launchBrowser({ viewport: { width: 1280, height: 900 } })
  t.teardown(() => browser.close())
  const page = browser.page
  const number = async (id: string) => Number(await page.locator(`#${id}`).textContent())

  await page.goto(`${cw.adminUrl}/status?refresh=300`)
  await page.waitForFunction(() => Number(document.body.dataset.updates ?? 0) >= 2)
  t.equal(await page.title(), 'Causeway status')
  t.equal(await number('sessions-open'), 0, 'no sessions yet')
  t.equal(await page.locator('#accepting').textContent(), 'accepting')
  t.equal(await page.locator('#node').textContent(), 'node node1')
  t.match(await page.locator('#upstreams tbody').textContent(), /localhost.*tcp:\/\/127\.0\.0\.1/, 'the configured upstream is listed')

  const alice = await connectClient({ service: cw.wsUrl, ...ALICE, resource: 'status' })
  t.teardown(() => alice.stop())
  const bob = await connectStrophe(cw.boshUrl, 'bob@localhost/status', BOB.password)
  t.teardown(() => bob.disconnect())
  await page.waitForFunction(() => document.getElementById('sessions-open')?.textContent === '2', undefined, { timeout: 10_000 })
  t.equal(await number('websocket-authenticated'), 1, 'the WebSocket session, logged in')
  t.equal(await number('bosh-authenticated'), 1, 'the BOSH session, logged in')
  t.ok((await number('logins')) >= 2, 'logins counted')

  // Traffic: stanzas/s goes above zero while messages flow.
  const sending = (async () => {
    for (let i = 0; i < 40; i++) {
      await alice.xmpp.send(xml('message', { to: 'bob@localhost/status', type: 'chat' }, xml('body', {}, `m${i}`)))
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  })()
  await page.waitForFunction(() => Number(document.getElementById('stanzas-in-rate')?.textContent) > 0, undefined, { timeout: 10_000 })
  await sending
  await bob.waitForBodies(40)
  const points = await page.locator('#chart-sessions polyline').getAttribute('points')
  t.ok((points ?? '').split(' ').length >= 3, 'the sessions chart has points')

  await page.screenshot({ path: 'test-artifacts/status-page.png', fullPage: true })

  await alice.stop()
  await page.waitForFunction(() => document.getElementById('sessions-open')?.textContent === '1', undefined, { timeout: 10_000 })
  t.pass('a session that ends leaves the count')
  t.same(browser.blockedRequests, [], 'no request beyond this machine')
  t.same(browser.failedRequests, [], 'no request failed')
  t.same(browser.consoleErrors, [], 'no script errors (CSP included)')
})
