/**
 * `npm run demo`: the quickest way to see Causeway work. Starts Prosody from
 * the system (the same harness the integration tests use, private config on
 * loopback), Causeway in front of it with the Converse.js page at /demo/,
 * and two demo accounts that already have each other as contacts. Ctrl-C
 * (or SIGTERM to npm, as a supervisor sends it) stops both.
 *
 *   npm run demo                          # http://127.0.0.1:5280/demo/
 *   npm run demo -- --port 8080 --log-level info
 */
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { makeConfig } from '../src/config/index.js'
import { createLogger } from '../src/observability/logger.js'
import { buildServer } from '../src/server.js'
import { LOG_LEVELS } from '../src/config/index.js'
import type { LogLevel } from '../src/config/index.js'
import { INSTALL_HINT, startProsody } from '../test/helpers/prosody.js'
import { befriend } from '../test/helpers/xmpp-client.js'

/** How often the demo checks that whoever started it (npm, a shell) is still there. */
const PARENT_CHECK_MS = 1000

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '5280' },
    host: { type: 'string', default: '127.0.0.1' },
    'log-level': { type: 'string', default: 'warn' },
  },
})
const logLevel = values['log-level']
if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
  process.stderr.write(`demo: --log-level must be one of ${LOG_LEVELS.join(', ')}\n`)
  process.exit(2)
}

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

// Contacts already: no "add contact" and "accept" round before the first chat.
const [alice, bob] = users
try {
  if (alice && bob) await befriend(`xmpp://127.0.0.1:${prosody.c2sPort}`, alice, bob, prosody.domain)
} catch (error) {
  await prosody.stop()
  fail(`could not make alice and bob contacts: ${error instanceof Error ? error.message : String(error)}`)
}

const config = makeConfig({
  host: values.host,
  port: Number(values.port),
  upstream: [`${prosody.domain}=tcp://127.0.0.1:${prosody.c2sPort}`],
  demo: true,
  logLevel: logLevel as LogLevel,
})
const causeway = await buildServer(config, { logger: createLogger(config.logLevel) })
try {
  await causeway.listen()
} catch (error) {
  await prosody.stop()
  const code = /already in use/.test(String(error)) ? 'EADDRINUSE' : undefined
  fail(code === 'EADDRINUSE' ? `port ${config.port} is in use; try npm run demo -- --port 8080` : error instanceof Error ? error.message : String(error))
}

const origin = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`
process.stdout.write(
  [
    '',
    'Causeway demo is running.',
    '',
    `  Open ${origin}/demo/  (add ?transport=bosh for BOSH)`,
    '',
    '  Demo accounts (log in as each, e.g. in two browser windows; they are each other’s contacts):',
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
process.on('SIGHUP', () => void stop())
// `npm run` starts this through a shell, and a supervisor signals npm: whatever
// the shell does with the signal, when the process that started us is gone, so are we.
const parent = process.ppid
setInterval(() => {
  if (process.ppid !== parent) void stop()
}, PARENT_CHECK_MS).unref()
