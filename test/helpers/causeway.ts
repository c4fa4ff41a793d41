/**
 * Start a Causeway on 127.0.0.1:0 for a test, with its logs captured in
 * memory (tests grep them) and a stop() for t.teardown.
 */
import type { AddressInfo } from 'node:net'
import { makeConfig } from '../../src/config/index.js'
import type { ConfigValues } from '../../src/config/index.js'
import { createLogger } from '../../src/observability/logger.js'
import { buildServer } from '../../src/server.js'
import type { Causeway, ServerDeps } from '../../src/server.js'

export interface RunningCauseway {
  readonly causeway: Causeway
  readonly port: number
  readonly httpUrl: string
  readonly wsUrl: string
  readonly boshUrl: string
  /** `http(s)://127.0.0.1:<adminPort>` when the admin listener is on. */
  readonly adminUrl: string | undefined
  /** Every log line so far, parsed. */
  logLines(): Array<Record<string, unknown>>
  /** The raw log text so far. */
  logText(): string
  stop(): Promise<void>
}

/** `deps.clock`: a test clock drives every deadline (the sockets stay real). */
export async function startCauseway(overrides: Partial<ConfigValues> = {}, deps: Pick<ServerDeps, 'clock'> = {}): Promise<RunningCauseway> {
  const config = makeConfig({ host: '127.0.0.1', port: 0, logLevel: 'debug', wsPingIntervalMs: 0, ...overrides })
  const lines: string[] = []
  const logger = createLogger(config.logLevel, { write: (line: string) => void lines.push(line) })
  const causeway = await buildServer(config, { logger, ...deps })
  const addresses = await causeway.listen()
  const { port } = addresses.public as AddressInfo
  let stopped: Promise<void> | undefined
  // With tlsCert/tlsKey the listener speaks only https/wss.
  const secure = config.tlsCert !== undefined
  const http = secure ? 'https' : 'http'
  const ws = secure ? 'wss' : 'ws'
  return {
    causeway,
    port,
    httpUrl: `${http}://127.0.0.1:${port}`,
    wsUrl: `${ws}://127.0.0.1:${port}${config.websocketPath}`,
    boshUrl: `${http}://127.0.0.1:${port}${config.boshPath}`,
    adminUrl: addresses.admin ? `${http}://127.0.0.1:${addresses.admin.port}` : undefined,
    logLines: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
    logText: () => lines.join(''),
    stop: () => (stopped ??= causeway.shutdown()),
  }
}
