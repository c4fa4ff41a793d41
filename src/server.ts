/**
 * Build, don't start: `buildServer(config)` returns a ready fastify app and
 * a shutdown hook; only the command-line entry point listens.
 */
import { readFileSync } from 'node:fs'
import { X509Certificate } from 'node:crypto'
import { createSecureContext } from 'node:tls'
import type { Server as TlsServer } from 'node:tls'
import Fastify, { LogController } from 'fastify'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { SessionAdmission } from './core/admission.js'
import type { Clock } from './core/clock.js'
import type { IdSource } from './core/ids.js'
import type { Config } from './config/options.js'
import { boshOptions, clientStreamSettings, seeOtherUris, webSocketSettings, xmlLimits } from './config/settings.js'
import { ClientAddressPolicy } from './edge/client-address.js'
import type { Logger } from './observability/logger.js'
import { createLogger } from './observability/logger.js'
import type { Metrics } from './observability/metrics.js'
import { createMetrics } from './observability/metrics.js'
import { registerDemo } from './routes/demo.js'
import { registerDiscovery } from './routes/discovery.js'
import { registerHealth } from './routes/health.js'
import { registerMetrics } from './routes/metrics.js'
import { RandomIds } from './system/random-ids.js'
import { systemClock } from './system/system-clock.js'
import { registerBoshRoute } from './transports/bosh/bosh-route.js'
import { BoshForwarding } from './transports/bosh/forwarding.js'
import { PeerProof } from './cluster/peer-proof.js'
import { PeerTable } from './cluster/peers.js'
import type { BoshTransport } from './transports/bosh/bosh-route.js'
import { registerWebSocketRoute } from './transports/websocket/websocket-route.js'
import type { WebSocketTransport } from './transports/websocket/websocket-route.js'
import { Upstreams } from './upstream/connector.js'
import { VERSION } from './version.js'

/** How long a client may take to send a whole request (headers and body). */
const REQUEST_RECEIVE_TIMEOUT_MS = 10_000

export interface ServerDeps {
  readonly logger?: Logger
  readonly metrics?: Metrics
  readonly ids?: IdSource
  readonly clock?: Clock
  /** Epoch milliseconds for forwarding proofs (they cross hosts); Date.now by default. */
  readonly wallClock?: () => number
}

export interface Causeway {
  readonly app: FastifyInstance
  readonly metrics: Metrics
  readonly websocket: WebSocketTransport
  readonly bosh: BoshTransport
  /** Stop accepting, end every session politely, close the listener. Bounded by shutdownTimeoutMs. */
  shutdown(): Promise<void>
  /**
   * Read tlsCert/tlsKey again and use them for new connections (SIGHUP).
   * Open connections keep theirs. A bad pair is refused and the old one kept.
   */
  reloadTls(): TlsReload
}

export type TlsReload =
  | { readonly ok: true; readonly subject: string; readonly validTo: string }
  | { readonly ok: false; readonly error: string }

interface TlsFiles {
  readonly cert: string
  readonly key: string
}

/** The certificate and key as PEM, checked to belong together; throws with a readable message. */
function loadTlsFiles(certPath: string, keyPath: string): TlsFiles & { readonly certificate: X509Certificate } {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path, 'utf8')
    } catch (error) {
      throw new Error(`cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`)
    }
  }
  const cert = read(certPath, 'tlsCert')
  const key = read(keyPath, 'tlsKey')
  let certificate: X509Certificate
  try {
    certificate = new X509Certificate(cert)
    // Throws when the key does not match the certificate.
    createSecureContext({ cert, key })
  } catch (error) {
    throw new Error(`tlsCert/tlsKey: ${error instanceof Error ? error.message : String(error)}`)
  }
  return { cert, key, certificate }
}

export async function buildServer(config: Config, deps: ServerDeps = {}): Promise<Causeway> {
  const logger = deps.logger ?? createLogger(config.logLevel)
  const metrics = deps.metrics ?? createMetrics()
  const ids = deps.ids ?? new RandomIds(config.nodeId)
  const clock = deps.clock ?? systemClock
  const ca = config.upstreamCaFile === undefined ? undefined : readFileSync(config.upstreamCaFile, 'utf8')
  let accepting = true
  const admission = new SessionAdmission(config.maxSessions, config.maxSessionsPerIp)
  const clients = new ClientAddressPolicy(config.trustedProxy, config.forwardedHeader)
  const clientOf = clients.describe.bind(clients)
  const tlsFiles = config.tlsCert !== undefined && config.tlsKey !== undefined ? loadTlsFiles(config.tlsCert, config.tlsKey) : undefined
  // Node applies the connection-checking interval to https servers through the same options object.
  const httpOptions = { connectionsCheckingInterval: 2_000 }

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Per-request lines would drown the per-session logs (BOSH is one request per poll).
    logController: new LogController({ disableRequestLogging: true }),
    // A held BOSH request may legitimately wait boshMaxWaitMs: never cut it ourselves.
    // Node's requestTimeout covers receiving the request only (a held response
    // is not cut by it), so a slow-body client is dropped within seconds…
    requestTimeout: REQUEST_RECEIVE_TIMEOUT_MS,
    // …while an idle socket under a held BOSH request must outlive boshMaxWaitMs.
    connectionTimeout: config.boshMaxWaitMs + 30_000,
    keepAliveTimeout: config.boshMaxWaitMs + 10_000,
    bodyLimit: config.boshMaxBodyBytes,
    // Node checks the headers/request deadlines only this often (default 30 s):
    // idle and slow-header connections are then cut within ~REQUEST_RECEIVE_TIMEOUT_MS.
    // Slow or stalled TLS handshakes are cut like slow headers.
    ...(tlsFiles ? { https: { cert: tlsFiles.cert, key: tlsFiles.key, handshakeTimeout: REQUEST_RECEIVE_TIMEOUT_MS, ...httpOptions } } : { http: httpOptions }),
    // Forwarding headers are read by ClientAddressPolicy, from trusted proxies only.
    trustProxy: false,
    return503OnClosing: true,
  })

  // Slow headers are cut by Node itself.
  app.server.headersTimeout = REQUEST_RECEIVE_TIMEOUT_MS

  registerHealth(app, { accepting: () => accepting, version: VERSION })
  registerMetrics(app, metrics)

  registerDiscovery(app, { publicUrl: config.publicUrl, boshPath: config.boshPath, websocketPath: config.websocketPath, secure: (request) => clientOf(request.raw).secure })

  if (config.demo) {
    await registerDemo(app, { boshPath: config.boshPath, websocketPath: config.websocketPath, domain: config.upstream.domains[0] ?? 'localhost' })
  }

  const limits = xmlLimits(config)
  // One upstream for both transports: the same routing, connector and client-stream core.
  const upstreams = new Upstreams(config.upstream, { stream: clientStreamSettings(config), tls: ca === undefined ? {} : { ca } }, clock)
  const websocket = await registerWebSocketRoute(app, {
    path: config.websocketPath,
    allowedOrigins: config.allowedOrigin,
    maxPayloadBytes: config.maxStanzaBytes,
    session: webSocketSettings(config),
    clock,
    upstreams,
    ids,
    log: logger,
    metrics,
    accepting: () => accepting,
    admission,
    clientOf,
    proxyProtocol: config.upstreamProxyProtocol,
  })

  // Balancers that cannot route on the body: requests for other nodes' sessions are forwarded (docs/deploy.md).
  const peers = new PeerTable(config.nodeId, config.peers)
  const forwarding =
    config.peers.length > 0 && config.peerSecret !== undefined
      ? new BoshForwarding({
          peers,
          proof: new PeerProof(config.peerSecret, config.nodeId, deps.wallClock ?? Date.now),
          maxWaitMs: config.boshMaxWaitMs,
          clock,
          log: logger,
          metrics,
        })
      : undefined

  const bosh = await registerBoshRoute(app, {
    path: config.boshPath,
    options: boshOptions(config),
    allowedOrigins: config.allowedOrigin,
    corsMaxAgeSeconds: config.corsMaxAgeSeconds,
    corsAllowCredentials: config.corsAllowCredentials,
    upstreams,
    clock,
    ids,
    log: logger,
    metrics,
    admit: (ip) => admission.admit(ip),
    version: VERSION,
    xmlLimits: limits,
    bodyTimeoutMs: REQUEST_RECEIVE_TIMEOUT_MS,
    accepting: () => accepting,
    clientOf,
    proxyProtocol: config.upstreamProxyProtocol,
    ...(forwarding ? { forwarding } : {}),
    ...(config.seeOtherUri !== '' ? { seeOtherUri: seeOtherUris(config)?.bosh } : {}),
  })

  let shuttingDown: Promise<void> | undefined
  const shutdown = (): Promise<void> => {
    shuttingDown ??= (async () => {
      accepting = false
      logger.info({ websocket: websocket.sessions.size, bosh: bosh.registry.size, drainMs: config.shutdownDrainMs, handoff: config.shutdownHandoff }, 'shutting down')
      // New sessions are refused from now on; open ones keep working for the drain period.
      if (config.shutdownDrainMs > 0) await new Promise((resolve) => setTimeout(resolve, config.shutdownDrainMs).unref())
      // shutdownHandoff: upstream streams stay resumable (XEP-0198) and clients are told to reconnect elsewhere.
      if (config.shutdownHandoff) bosh.handOff()
      else bosh.shutdown()
      const drained = config.shutdownHandoff ? websocket.handOff() : websocket.shutdown()
      const deadline = new Promise<void>((resolve) => setTimeout(resolve, config.shutdownTimeoutMs).unref())
      await Promise.race([drained, deadline])
      for (const session of websocket.sessions) session.shutdown()
      // Requests still held at their owners: their clients repeat them through another node.
      await forwarding?.close()
      await app.close()
    })()
    return shuttingDown
  }

  const reloadTls = (): TlsReload => {
    if (config.tlsCert === undefined || config.tlsKey === undefined) return { ok: false, error: 'TLS is not configured (tlsCert/tlsKey)' }
    try {
      const files = loadTlsFiles(config.tlsCert, config.tlsKey)
      ;(app.server as unknown as TlsServer).setSecureContext({ cert: files.cert, key: files.key })
      const result = { ok: true as const, subject: files.certificate.subject.replace(/\n/g, ', '), validTo: files.certificate.validTo }
      metrics.tlsReloads.inc({ result: 'ok' })
      logger.info({ subject: result.subject, validTo: result.validTo }, 'tls certificate reloaded')
      return result
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      metrics.tlsReloads.inc({ result: 'error' })
      logger.error({ err: message }, 'tls certificate reload failed; keeping the current certificate')
      return { ok: false, error: message }
    }
  }

  return { app, metrics, websocket, bosh, shutdown, reloadTls }
}
