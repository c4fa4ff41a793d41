/**
 * Build, don't start: `buildServer(config)` returns a ready fastify app and
 * a shutdown hook; only the command-line entry point listens.
 */
import { readFileSync } from 'node:fs'
import { X509Certificate } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { createSecureContext } from 'node:tls'
import type { Server as TlsServer } from 'node:tls'
import Fastify, { LogController } from 'fastify'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { registerAdminApi } from './admin/admin-api.js'
import { BearerToken } from './admin/bearer.js'
import { prebind } from './admin/prebind.js'
import { TokenBucket } from './admin/token-bucket.js'
import { SessionAdmission } from './core/admission.js'
import type { Clock } from './core/clock.js'
import type { IdSource } from './core/ids.js'
import type { Config } from './config/options.js'
import { optionSpec } from './config/options.js'
import { boshOptions, clientStreamSettings, seeOtherUris, webSocketSettings, xmlLimits } from './config/settings.js'
import { ClientAddressPolicy } from './edge/client-address.js'
import type { Logger } from './observability/logger.js'
import { createLogger, lazyRequestLogger } from './observability/logger.js'
import type { Metrics } from './observability/metrics.js'
import { createMetrics } from './observability/metrics.js'
import { EdgeLog } from './observability/edge-log.js'
import { RepeatGate } from './observability/repeat-gate.js'
import { SessionDirectory } from './observability/session-directory.js'
import type { ObserverContext } from './observability/session-observer.js'
import { registerDemo } from './routes/demo.js'
import { registerDiscovery } from './routes/discovery.js'
import { registerHealth } from './routes/health.js'
import { registerMetrics } from './routes/metrics.js'
import { registerStatus } from './routes/status.js'
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
import { UpstreamDiagnostics } from './upstream/diagnostics.js'
import { UpstreamHealth } from './upstream/health.js'
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
  /** The public listener: WebSocket, BOSH, discovery, health (and /metrics unless publicMetrics is off). */
  readonly app: FastifyInstance
  /** The admin listener (adminPort): /metrics, /status, health and the admin API; undefined when off. */
  readonly admin: FastifyInstance | undefined
  readonly metrics: Metrics
  /** Every live session, both transports. */
  readonly directory: SessionDirectory
  readonly health: UpstreamHealth
  readonly websocket: WebSocketTransport
  readonly bosh: BoshTransport
  /** Stop accepting, end every session politely, close the listener. Bounded by shutdownTimeoutMs. */
  shutdown(): Promise<void>
  /**
   * Read tlsCert/tlsKey again and use them for new connections (SIGHUP).
   * Open connections keep theirs. A bad pair is refused and the old one kept.
   */
  reloadTls(): TlsReload
  /**
   * Listen on `host:port` (and `adminHost:adminPort`); a failure names the
   * option and the address, with what to do.
   */
  listen(): Promise<{ readonly public: AddressInfo; readonly admin?: AddressInfo }>
}

/** A listen error as an operator needs it: the option, the address, the remedy. */
export function listenError(error: unknown, options: { host: string; port: number; hostKey: string; portKey: string }): Error {
  const code = (error as NodeJS.ErrnoException).code
  const where = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`
  const keys = `${options.hostKey}/${options.portKey}`
  switch (code) {
    case 'EADDRINUSE':
      return new Error(`${keys}: ${where} is already in use (another Causeway, or an XMPP server's own HTTP port?): stop that process or choose another ${options.portKey}`)
    case 'EACCES':
      return new Error(`${keys}: no permission to listen on ${where}: ports below 1024 need CAP_NET_BIND_SERVICE (see the systemd unit), or use a port above 1024 behind a proxy`)
    case 'EADDRNOTAVAIL':
      return new Error(`${keys}: ${options.host} is not an address of this machine: use one of its addresses, 127.0.0.1, or 0.0.0.0 for all`)
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new Error(`${keys}: ${options.host} does not resolve: use an IP address`)
    default:
      return new Error(`${keys}: cannot listen on ${where}: ${code ?? (error instanceof Error ? error.message : String(error))}`)
  }
}

/** A file an option names, read with an error that names the option, the path and the problem. */
function readOptionFile(key: string, path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied (check the file mode and the user Causeway runs as)' : code === 'EISDIR' ? 'it is a directory' : (code ?? String(error))
    throw new Error(`${key}: cannot read ${path}: ${why}`)
  }
}

/** adminToken, or the content of adminTokenFile, checked like the option. */
function adminToken(config: Config): string | undefined {
  if (config.adminTokenFile === undefined) return config.adminToken
  const token = readOptionFile('adminTokenFile', config.adminTokenFile).trim()
  const check = optionSpec('adminToken')
  if (check.kind === 'optional-string') {
    const result = check.check(token)
    if ('problem' in result) throw new Error(`adminTokenFile: the token in ${config.adminTokenFile} ${result.problem}`)
  }
  return token
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
  const cert = readOptionFile('tlsCert', certPath)
  const key = readOptionFile('tlsKey', keyPath)
  let certificate: X509Certificate
  try {
    certificate = new X509Certificate(cert)
    // Throws when the key does not match the certificate.
    createSecureContext({ cert, key })
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error)
    const hint = /no start line|PEM/i.test(why) ? 'not a PEM certificate chain and private key' : /key values mismatch|KEY_VALUES_MISMATCH/i.test(why) ? 'the key does not belong to the certificate' : why
    throw new Error(`tlsCert/tlsKey: ${certPath} and ${keyPath}: ${hint} (${why})`)
  }
  return { cert, key, certificate }
}

export async function buildServer(config: Config, deps: ServerDeps = {}): Promise<Causeway> {
  const logger = deps.logger ?? createLogger(config.logLevel)
  const metrics = deps.metrics ?? createMetrics({ version: VERSION, nodeId: config.nodeId })
  const ids = deps.ids ?? new RandomIds(config.nodeId)
  const clock = deps.clock ?? systemClock
  const ca = config.upstreamCaFile === undefined ? undefined : readOptionFile('upstreamCaFile', config.upstreamCaFile)
  if (ca !== undefined && !ca.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`upstreamCaFile: ${config.upstreamCaFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`)
  const token = adminToken(config)
  const startedAt = clock.now()
  let accepting = true
  const admission = new SessionAdmission(config.maxSessions, config.maxSessionsPerIp)
  const clients = new ClientAddressPolicy(config.trustedProxy, config.forwardedHeader)
  const clientOf = clients.describe.bind(clients)
  const tlsFiles = config.tlsCert !== undefined && config.tlsKey !== undefined ? loadTlsFiles(config.tlsCert, config.tlsKey) : undefined
  // Node applies the connection-checking interval to https servers through the same options object.
  const httpOptions = { connectionsCheckingInterval: 2_000 }

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    childLoggerFactory: (parent, bindings) => lazyRequestLogger(parent as Logger, bindings),
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

  const limits = xmlLimits(config)
  // One upstream for both transports: the same routing, connector and client-stream core.
  const upstreams = new Upstreams(config.upstream, { stream: clientStreamSettings(config), tls: ca === undefined ? {} : { ca } }, clock)
  const gate = new RepeatGate(clock, config.logRepeatIntervalMs)
  const probeLog = logger.child({ component: 'upstream-probe' })
  const health = new UpstreamHealth({
    clock,
    upstreams: upstreams.labels,
    probe: (upstream) => upstreams.probe(upstream, probeLog),
    changed: (upstream, up) => metrics.upstreamUp.set({ upstream }, up ? 1 : 0),
  })
  upstreams.watch({ diagnostics: new UpstreamDiagnostics(logger, gate, ca !== undefined), health })
  if (config.readyRequiresUpstream) health.startProbing(config.upstreamProbeIntervalMs)
  const directory = new SessionDirectory()
  metrics.countSessionsBy(() => directory.counts())
  const observers: ObserverContext = { metrics, directory, clock, logJid: config.logJid, domainLabel: (domain) => upstreams.labelOf(domain) }
  const edgeLog = new EdgeLog(logger, gate)

  const healthOptions = {
    accepting: () => accepting,
    ...(config.readyRequiresUpstream ? { upstreamReady: () => health.anyUp() } : {}),
    version: VERSION,
  }
  registerHealth(app, healthOptions)
  if (config.publicMetrics) registerMetrics(app, metrics)

  registerDiscovery(app, { publicUrl: config.publicUrl, boshPath: config.boshPath, websocketPath: config.websocketPath, secure: (request) => clientOf(request.raw).secure })

  if (config.demo) {
    await registerDemo(app, { boshPath: config.boshPath, websocketPath: config.websocketPath, domain: config.upstream.domains[0] ?? 'localhost' })
  }

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
    observers,
    edgeLog,
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
    observers,
    edgeLog,
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

  const admin = config.adminPort === 0 ? undefined : await buildAdmin()

  async function buildAdmin(): Promise<FastifyInstance> {
    const adminApp = Fastify({
      loggerInstance: logger as FastifyBaseLogger,
      logController: new LogController({ disableRequestLogging: true }),
      requestTimeout: REQUEST_RECEIVE_TIMEOUT_MS,
      ...(tlsFiles ? { https: { cert: tlsFiles.cert, key: tlsFiles.key, handshakeTimeout: REQUEST_RECEIVE_TIMEOUT_MS, ...httpOptions } } : { http: httpOptions }),
      trustProxy: false,
      return503OnClosing: true,
    })
    adminApp.server.headersTimeout = REQUEST_RECEIVE_TIMEOUT_MS
    registerHealth(adminApp, healthOptions)
    registerMetrics(adminApp, metrics)
    registerStatus(adminApp, {
      metrics,
      version: VERSION,
      nodeId: config.nodeId,
      now: () => clock.now(),
      startedAt,
      accepting: () => accepting,
      sessions: () => directory.counts(),
      upstreams: () => health.status(),
    })
    if (token !== undefined) {
      await registerAdminApi(adminApp, {
        token: new BearerToken(token),
        directory,
        clock,
        metrics,
        log: logger.child({ component: 'admin' }),
        logJid: config.logJid,
        peer: (request) => clientOf(request.raw).address,
        prebind: (request) =>
          prebind({ bosh, serves: (domain) => upstreams.route(domain).ok, waitSeconds: config.boshMaxWaitMs / 1000 }, request),
        prebindRate: new TokenBucket(clock, config.prebindMaxPerSecond),
        accepting: () => accepting,
      })
    }
    return adminApp
  }

  let shuttingDown: Promise<void> | undefined
  const shutdown = (): Promise<void> => {
    shuttingDown ??= (async () => {
      accepting = false
      directory.draining = true
      health.stop()
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
      await admin?.close()
    })()
    return shuttingDown
  }

  const reloadTls = (): TlsReload => {
    if (config.tlsCert === undefined || config.tlsKey === undefined) return { ok: false, error: 'TLS is not configured (tlsCert/tlsKey)' }
    try {
      const files = loadTlsFiles(config.tlsCert, config.tlsKey)
      ;(app.server as unknown as TlsServer).setSecureContext({ cert: files.cert, key: files.key })
      if (admin) (admin.server as unknown as TlsServer).setSecureContext({ cert: files.cert, key: files.key })
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

  const listen = async () => {
    let publicAddress: AddressInfo
    try {
      await app.listen({ host: config.host, port: config.port })
      publicAddress = app.server.address() as AddressInfo
    } catch (error) {
      throw listenError(error, { host: config.host, port: config.port, hostKey: 'host', portKey: 'port' })
    }
    if (!admin) return { public: publicAddress }
    try {
      await admin.listen({ host: config.adminHost, port: config.adminPort })
    } catch (error) {
      await app.close()
      throw listenError(error, { host: config.adminHost, port: config.adminPort, hostKey: 'adminHost', portKey: 'adminPort' })
    }
    return { public: publicAddress, admin: admin.server.address() as AddressInfo }
  }

  return { app, admin, metrics, directory, health, websocket, bosh, shutdown, reloadTls, listen }
}
