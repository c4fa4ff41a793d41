/**
 * `npm run demo`: the quickest way to see Causeway work. Starts Prosody from
 * the system (the same harness the integration tests use, private config on
 * loopback), Causeway in front of it with the Converse.js page at /demo/,
 * and two demo accounts. Ctrl-C stops both.
 *
 *   npm run demo                 # http://127.0.0.1:5280/demo/
 *   npm run demo -- --port 8080
 */
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { makeConfig } from '../src/config/index.js'
import { createLogger } from '../src/observability/logger.js'
import { buildServer } from '../src/server.js'
import { INSTALL_HINT, startProsody } from '../test/helpers/prosody.js'

const { values } = parseArgs({
  options: { port: { type: 'string', default: '5280' }, host: { type: 'string', default: '127.0.0.1' } },
})

function fail(message: string): never {
  process.stderr.write(`demo: ${message}\n`)
  process.exit(1)
}

const password = () => randomBytes(6).toString('base64url')
const users = [
  { username: 'alice', password: password() },
  { username: 'bob', password: password() },
]

let prosody
try {
  prosody = await startProsody({ users })
} catch (error) {
  const message = error instanceof Error ? error.message : String(error)
  if (message === INSTALL_HINT) {
    fail('Prosody is not installed. On Debian or Ubuntu: sudo apt-get install -y prosody\n' + '      (or run the same stack in containers: docker compose up)')
  }
  fail(`Prosody did not start: ${message}`)
}

const config = makeConfig({
  host: values.host,
  port: Number(values.port),
  upstream: [`${prosody.domain}=tcp://127.0.0.1:${prosody.c2sPort}`],
  demo: true,
  logLevel: 'warn',
})
const causeway = await buildServer(config, { logger: createLogger(config.logLevel) })
try {
  await causeway.app.listen({ host: config.host, port: config.port })
} catch (error) {
  await prosody.stop()
  const code = (error as NodeJS.ErrnoException).code
  fail(code === 'EADDRINUSE' ? `port ${config.port} is in use; try npm run demo -- --port 8080` : String(error))
}

const origin = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`
process.stdout.write(
  [
    '',
    'Causeway demo is running.',
    '',
    `  Open ${origin}/demo/  (add ?transport=bosh for BOSH)`,
    '',
    '  Demo accounts (log in as each, e.g. in two browser windows):',
    ...users.map((user) => `    ${user.username}@${prosody.domain}   password: ${user.password}`),
    '',
    `  BOSH endpoint:       ${origin}${config.boshPath}`,
    `  WebSocket endpoint:  ${origin.replace(/^http/, 'ws')}${config.websocketPath}`,
    `  Prosody (upstream):  127.0.0.1:${prosody.c2sPort}, domain ${prosody.domain}`,
    '',
    'Press Ctrl-C to stop.',
    '',
  ].join('\n'),
)

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  process.stdout.write('Stopping…\n')
  await causeway.shutdown()
  await prosody.stop()
  process.exit(0)
}
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())
