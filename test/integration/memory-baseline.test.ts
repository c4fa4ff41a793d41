/**
 * After floods and faults, memory comes back: sessions, buffers and timers
 * are all released once their sessions end.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { eventually } from '../helpers/wait.js'
import { startProsody } from '../helpers/prosody.js'
import { startCauseway } from '../helpers/causeway.js'
import { OPEN, rawClient } from '../helpers/ws-client.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

async function settledHeap(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    gc()
  }
  return process.memoryUsage().heapUsed
}

const NS = "xmlns='http://jabber.org/protocol/httpbind'"

t.test('memory returns to baseline after hostile floods on both transports', async (t) => {
  const prosody = await startProsody({ users: [] })
  t.teardown(() => prosody.stop())
  const cw = await startCauseway({ upstream: [`localhost=tcp://127.0.0.1:${prosody.c2sPort}`], logLevel: 'warn', maxSessionsPerIp: 1000 })
  t.teardown(() => cw.stop())

  const round = async () => {
    await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const client = await rawClient(cw.wsUrl)
        client.send(OPEN())
        await client.waitForMatch(/^<stream:features/)
        client.send(i % 2 === 0 ? `<message xmlns='jabber:client'>${'<a>'.repeat(5000)}` : `<message xmlns='jabber:client' to='${'x'.repeat(60_000)}'/>`)
        await client.closed
      }),
    )
    await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const created = await (await fetch(cw.boshUrl, { method: 'POST', body: `<body ${NS} rid='${100 + i}' to='localhost' wait='5' hold='1' ver='1.11'/>` })).text()
        const sid = /sid='([^']+)'/.exec(created)?.[1]
        await (await fetch(cw.boshUrl, { method: 'POST', body: `<body ${NS} sid='${sid}' rid='${101 + i}' type='terminate'/>` })).text()
      }),
    )
  }

  await round() // warm up code paths, JIT and pools
  const baseline = await settledHeap()
  for (let i = 0; i < 4; i++) await round()
  await eventually('every session to end', () => cw.causeway.websocket.sessions.size === 0 && cw.causeway.bosh.registry.size === 0)
  t.equal(cw.causeway.websocket.sessions.size, 0, 'no WebSocket session left')
  t.equal(cw.causeway.bosh.registry.size, 0, 'no BOSH session left')
  const after = await settledHeap()
  const grown = (after - baseline) / 1024 / 1024
  t.ok(grown < 4, `heap after 400 more sessions: ${grown.toFixed(2)} MiB above the baseline`)
  t.match(await cw.causeway.metrics.registry.metrics(), /causeway_sessions_open\{transport="websocket"\} 0/)
  t.match(await cw.causeway.metrics.registry.metrics(), /causeway_bosh_held_requests 0/)
})
