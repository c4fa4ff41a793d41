/**
 * The short soak in CI: mixed BOSH and WebSocket sessions, steady messages,
 * random client drops and one upstream restart; nothing expected may be
 * lost or duplicated, and Causeway must not die. `npm run soak` runs it big.
 */
import t from 'tap'
import { runSoak } from '../../bench/soak.js'

t.test('short soak: no message lost or duplicated', async (t) => {
  const lines: string[] = []
  const result = await runSoak({
    sessions: 30,
    seconds: 10,
    rate: 40,
    dropEveryMs: 1000,
    restartUpstream: true,
    loginConcurrency: 10,
    log: (line) => lines.push(line),
  })
  t.comment(lines.slice(-4).join('\n'))
  t.equal(result.causewayExit, undefined, 'Causeway kept running')
  t.ok(result.expected >= 150, `${result.expected} of ${result.sent} messages had both ends stable`)
  t.equal(result.lost, 0, 'none of them lost')
  t.equal(result.duplicated, 0, 'no message delivered twice')
  t.ok(result.drops >= 5, `${result.drops} clients dropped and came back`)
  t.ok(lines.some((l) => l.includes('upstream server back')), 'the upstream restarted mid-run')
})
