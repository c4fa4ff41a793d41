#!/usr/bin/env node
/**
 * The `causeway` command: read the config, build the server, listen, and
 * shut down politely on SIGTERM/SIGINT within shutdownTimeoutMs.
 */
// First: V8's heap settings must be in place before the rest is loaded.
import './heap-tuning.js'
import { ConfigError, parseCommandLine } from '../config/index.js'
import { createLogger } from '../observability/logger.js'
import { buildServer } from '../server.js'
import { VERSION } from '../version.js'

async function main(): Promise<number> {
  let command
  try {
    command = parseCommandLine({ argv: process.argv.slice(2), env: process.env })
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`causeway: ${error.message}\nRun 'causeway --help' for the options.\n`)
      return 2
    }
    throw error
  }
  if (command.action === 'help') {
    process.stdout.write(command.text)
    return 0
  }
  if (command.action === 'version') {
    process.stdout.write(`causeway ${VERSION}\n`)
    return 0
  }
  const { config } = command
  const logger = createLogger(config.logLevel)
  const causeway = await buildServer(config, { logger })
  const addresses = await causeway.listen()
  logger.info(
    {
      version: VERSION,
      node: process.version,
      address: `${addresses.public.address}:${addresses.public.port}`,
      ...(addresses.admin ? { admin: `${addresses.admin.address}:${addresses.admin.port}`, adminApi: causeway.admin !== undefined && (config.adminToken !== undefined || config.adminTokenFile !== undefined) } : {}),
      tls: config.tlsCert !== undefined,
      websocket: config.websocketPath,
      bosh: config.boshPath,
      upstream: config.upstream.describe(),
    },
    'causeway listening',
  )

  const stop = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'shutdown requested')
    // A second signal, or a drain that overruns its deadline, ends the process anyway.
    const hardStop = setTimeout(() => process.exit(1), config.shutdownDrainMs + config.shutdownTimeoutMs + 5000)
    hardStop.unref()
    process.once(signal, () => process.exit(1))
    causeway.shutdown().then(
      () => {
        logger.info('shutdown complete')
        logger.flush()
        process.exitCode = 0
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  // Certificate renewal (certbot deploy hook, `systemctl reload`): new connections get the new pair.
  if (config.tlsCert !== undefined) process.on('SIGHUP', () => causeway.reloadTls())
  else process.on('SIGHUP', () => logger.info('SIGHUP ignored: no tlsCert/tlsKey to reload'))
  return -1
}

main().then(
  (code) => {
    if (code >= 0) process.exitCode = code
  },
  (error: unknown) => {
    process.stderr.write(`causeway: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  },
)
