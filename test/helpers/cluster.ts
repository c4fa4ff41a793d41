/**
 * Several Causeway nodes behind one HAProxy, as docs/deploy/haproxy-cluster.cfg
 * describes: each node is its own process running the `causeway` command
 * (src/bin/causeway.ts under tsx) with its own --node-id, and HAProxy runs
 * the shipped cluster config with only ports, addresses and paths rewritten.
 * Both go through daemon.ts, so a process never outlives the test, even one
 * that is killed.
 */
import { readFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { replaceExactly, startDaemon } from './daemon.js'
import type { DaemonContext, RunningDaemon } from './daemon.js'
import { renderShippedConfig, startHaproxy } from './haproxy.js'
import type { RunningHaproxy } from './haproxy.js'
import { startNginx } from './nginx.js'
import type { RunningNginx } from './nginx.js'
import type { CertFiles } from './tls.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const BIN = fileURLToPath(new URL('../../src/bin/causeway.ts', import.meta.url))

/** docs/deploy/haproxy-cluster.cfg, the file operators install. */
export const SHIPPED_CLUSTER_CFG = fileURLToPath(new URL('../../docs/deploy/haproxy-cluster.cfg', import.meta.url))
/** The backend that holds the Causeway nodes in the shipped file. */
export const CLUSTER_BACKEND = 'causeway_nodes'

export interface CausewayNodeOptions {
  /** --node-id: the sid prefix, and the `server` name in the HAProxy config. */
  readonly label: string
  /** Prosody's c2s port on 127.0.0.1, for `localhost`. */
  readonly upstreamPort: number
  /** More flags, after the defaults (a later flag wins). */
  readonly args?: readonly string[]
  /** Listen here instead of on a fresh free port (so that the other nodes can name it in --peer). */
  readonly port?: number
  /** Extra environment (e.g. CAUSEWAY_PEER_SECRET, which keeps the secret off the command line). */
  readonly env?: Readonly<Record<string, string>>
}

export interface CausewayNode {
  readonly label: string
  readonly port: number
  readonly pid: number
  /** The node's Prometheus text (straight from the node, not through the proxy). */
  metrics(): Promise<string>
  /** GET /readyz on the node itself: 200 while it accepts sessions, 503 while it drains. */
  readyStatus(): Promise<number>
  /** The node's JSON log lines so far. */
  logLines(): Array<Record<string, unknown>>
  logs(): string
  /** Signal the process group without waiting (SIGTERM starts the drain, SIGKILL is a crash). */
  signal(signal: NodeJS.Signals): boolean
  stop(): Promise<void>
}

/**
 * `node --import tsx src/bin/causeway.ts --node-id LABEL ...` on a free
 * loopback port, logging at debug level to stdout (kept whole, up to 8 MiB).
 */
export async function startCausewayNode(options: CausewayNodeOptions): Promise<CausewayNode> {
  const daemon: RunningDaemon = await startDaemon({
    name: `Causeway ${options.label}`,
    binary: process.execPath,
    debianPackage: 'nodejs',
    cwd: ROOT,
    maxOutputBytes: 8 * 1024 * 1024,
    startTimeoutMs: 60_000,
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
    prepare: async ({ port }) => [
      '--import',
      'tsx',
      BIN,
      '--host', '127.0.0.1',
      '--port', String(port),
      '--node-id', options.label,
      '--upstream', `localhost=tcp://127.0.0.1:${options.upstreamPort}`,
      // HAProxy reaches the nodes from 127.0.0.1; clients come from elsewhere on 127/8.
      '--trusted-proxy', '127.0.0.1/32',
      '--log-level', 'debug',
      ...(options.args ?? []),
    ],
    portTaken: (logs) => logs.includes('EADDRINUSE'),
    readyWhen: (logs) => logs.includes('"causeway listening"'),
  })
  const base = `http://127.0.0.1:${daemon.port}`
  return {
    label: options.label,
    port: daemon.port,
    pid: daemon.pid,
    metrics: async () => await (await fetch(`${base}/metrics`)).text(),
    readyStatus: async () => (await fetch(`${base}/readyz`)).status,
    logLines: () =>
      daemon
        .logs()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .flatMap((line) => {
          try {
            return [JSON.parse(line) as Record<string, unknown>]
          } catch {
            return []
          }
        }),
    logs: () => daemon.logs(),
    signal: (signal) => daemon.signal(signal),
    stop: () => daemon.stop(),
  }
}

/** One sample's value from Prometheus text (0 when the series has not been created yet). */
export function metricValue(text: string, series: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1))
  }
  return 0
}

export interface ShippedClusterOptions {
  /** The nodes, by label; each label must have a `server` line in the shipped file. */
  readonly nodes: ReadonlyArray<{ readonly label: string; readonly port: number }>
  /** The proxy's TLS certificate and key. */
  readonly cert: CertFiles
}

/** docs/deploy/haproxy-cluster.cfg, each node's server line pointed at its port on this machine. */
export async function renderShippedCluster(ctx: DaemonContext, options: ShippedClusterOptions): Promise<string> {
  const file = 'docs/deploy/haproxy-cluster.cfg'
  return renderShippedConfig(ctx, SHIPPED_CLUSTER_CFG, file, options.cert, (shippedText) => {
    let text = shippedText
    const servers = [...text.matchAll(/^ {4}server (\S+) (\S+)$/gm)]
    const shipped = servers.map((m) => m[1]).sort()
    const wanted = options.nodes.map((n) => n.label).sort()
    if (shipped.join() !== wanted.join())
      throw new Error(`${file}: server lines name ${shipped.join(', ')}, the test runs ${wanted.join(', ')}; update the harness together with the file`)
    for (const node of options.nodes) {
      const line = servers.find((m) => m[1] === node.label)?.[0] ?? ''
      text = replaceExactly(text, line, `    server ${node.label} 127.0.0.1:${node.port}`, file)
    }
    return text
  })
}

export interface RunningClusterProxy extends RunningHaproxy {
  /** Each server's status as HAProxy sees it (`UP`, `DOWN`, `UP 1/2`, `DRAIN`, `MAINT`, …), from `show stat` on the admin socket. */
  serverStatus(): Promise<Map<string, string>>
  /** One command on the admin socket (e.g. `set server causeway_nodes/node1 state drain`); resolves with HAProxy's answer. */
  admin(command: string): Promise<string>
}

/** docs/deploy/haproxy-cluster.cfg in front of the given nodes, terminating TLS with `cert`. */
export async function startShippedCluster(options: ShippedClusterOptions): Promise<RunningClusterProxy> {
  const haproxy = await startHaproxy({ render: (ctx) => renderShippedCluster(ctx, options) })
  const socket = join(haproxy.dir, 'admin.sock')
  return {
    ...haproxy,
    admin: (command) => adminCommand(socket, command),
    serverStatus: async () => {
      const csv = await adminCommand(socket, 'show stat')
      const [header = '', ...rows] = csv.split('\n')
      const columns = header.replace(/^# /, '').split(',')
      const name = columns.indexOf('svname')
      const proxy = columns.indexOf('pxname')
      const status = columns.indexOf('status')
      const result = new Map<string, string>()
      for (const row of rows) {
        const fields = row.split(',')
        if (fields[proxy] !== CLUSTER_BACKEND || fields[name] === 'BACKEND') continue
        result.set(fields[name] ?? '', fields[status] ?? '')
      }
      return result
    },
  }
}

/** One command on HAProxy's admin socket; resolves with the whole answer. */
function adminCommand(path: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(path)
    let answer = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => (answer += chunk))
    socket.on('end', () => resolve(answer))
    socket.on('error', reject)
    socket.setTimeout(5000, () => socket.destroy(new Error(`HAProxy admin socket: no answer to ${command}`)))
    socket.write(`${command}\n`)
  })
}

/** docs/deploy/nginx-cluster.conf, the round-robin config for balancers that cannot route on the body. */
export const SHIPPED_NGINX_CLUSTER_CONF = fileURLToPath(new URL('../../docs/deploy/nginx-cluster.conf', import.meta.url))

/**
 * docs/deploy/nginx-cluster.conf with only what differs on a test machine
 * rewritten: the listen address, the certificate paths and each node's address.
 */
export async function renderShippedNginxCluster(ctx: DaemonContext, options: ShippedClusterOptions): Promise<string> {
  const file = 'docs/deploy/nginx-cluster.conf'
  let text = await readFile(SHIPPED_NGINX_CLUSTER_CONF, 'utf8')
  text = replaceExactly(text, '    listen 443 ssl http2;', `    listen 127.0.0.1:${ctx.port} ssl http2;`, file)
  text = replaceExactly(text, '/etc/letsencrypt/live/chat.example.org/fullchain.pem;', `${options.cert.certPath};`, file)
  text = replaceExactly(text, '/etc/letsencrypt/live/chat.example.org/privkey.pem;', `${options.cert.keyPath};`, file)
  const servers = [...text.matchAll(/^ {4}server 10\.0\.0\.\d+:5280;$/gm)].map((m) => m[0])
  if (servers.length !== options.nodes.length) throw new Error(`${file}: ${servers.length} server lines, the test runs ${options.nodes.length} nodes`)
  options.nodes.forEach((node, i) => {
    text = replaceExactly(text, servers[i] ?? '', `    server 127.0.0.1:${node.port};`, file)
  })
  return text
}

/** docs/deploy/nginx-cluster.conf (Debian's nginx, round robin) in front of the given nodes. */
export async function startShippedNginxCluster(options: ShippedClusterOptions): Promise<RunningNginx> {
  return await startNginx({ site: (ctx) => renderShippedNginxCluster(ctx, options) })
}
