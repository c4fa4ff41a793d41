import t from 'tap'
import { Writable } from 'node:stream'
import { createLogger, lazyRequestLogger, sessionLog } from '../../src/observability/logger.js'
import { createMetrics } from '../../src/observability/metrics.js'

function capture(level: 'info' | 'debug') {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>)
      done()
    },
  })
  const logger = createLogger(level, stream)
  let children = 0
  const child = logger.child.bind(logger)
  logger.child = ((...args: Parameters<typeof child>) => {
    children += 1
    return child(...args)
  }) as typeof logger.child
  return { logger, lines, children: () => children }
}

const settle = () => new Promise((resolve) => setImmediate(resolve))

t.test('a session logger makes its pino child only when a line is written at an enabled level', async (t) => {
  const { logger, lines, children } = capture('info')
  const log = sessionLog(logger, { sid: 'abc', transport: 'websocket', remote: '192.0.2.1' })
  log.debug({ stanza: 'x' }, 'client → upstream')
  log.debug('authenticated')
  t.equal(children(), 0, 'debug lines at info level cost no child')
  t.equal(log.isLevelEnabled('debug'), false)
  log.info({ reason: 'client-close' }, 'session ended')
  log.warn('again')
  await settle()
  t.equal(children(), 1, 'one child, made at the first line and kept')
  t.match(lines, [
    { level: 30, sid: 'abc', transport: 'websocket', remote: '192.0.2.1', reason: 'client-close', msg: 'session ended' },
    { level: 40, sid: 'abc', msg: 'again' },
  ])
  t.equal(lines.length, 2)
})

t.test("fastify's per-request logger: nothing made for a request that logs nothing", async (t) => {
  const { logger, lines, children } = capture('info')
  const log = lazyRequestLogger(logger, { reqId: 'req-1' })
  log.debug('not written')
  log.trace({ a: 1 }, 'not written')
  t.equal(children(), 0)
  t.equal(log.level, 'info', 'the level is the parent’s')
  log.error({ err: 'boom' }, 'request failed')
  await settle()
  t.equal(children(), 1)
  t.match(lines, [{ level: 50, reqId: 'req-1', err: 'boom', msg: 'request failed' }])
  t.equal(lines.length, 1)
})

t.test('relayed stanzas and bytes: plain numbers, read into the counters at scrape time', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false })
  metrics.relayed.websocket.stanzas.to_upstream += 3
  metrics.relayed.websocket.bytes.to_upstream += 300
  metrics.relayed.bosh.stanzas.to_client += 2
  const text = await metrics.registry.metrics()
  t.match(text, /causeway_stanzas_total\{transport="websocket",direction="to_upstream"\} 3\n/)
  t.match(text, /causeway_bytes_total\{transport="websocket",direction="to_upstream"\} 300\n/)
  t.match(text, /causeway_stanzas_total\{transport="bosh",direction="to_client"\} 2\n/)
  t.match(text, /causeway_stanzas_total\{transport="bosh",direction="to_upstream"\} 0\n/, 'every series present from the start')
  metrics.relayed.bosh.stanzas.to_client += 1
  t.match(await metrics.registry.metrics(), /causeway_stanzas_total\{transport="bosh",direction="to_client"\} 3\n/, 'a later scrape sees later counts, not a sum of scrapes')
})
