/**
 * A private HAProxy (Debian package `haproxy`) for a test: the real binary in
 * the foreground (`haproxy -db -f`), with a generated config in a fresh temp
 * dir, on a free loopback port. `startShippedHaproxy` runs
 * docs/deploy/haproxy.cfg itself, rewriting only ports, addresses and paths.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { CertFiles } from './tls.js'
import { replaceExactly, startDaemon } from './daemon.js'
import type { DaemonContext, RunningDaemon } from './daemon.js'


/** docs/deploy/haproxy.cfg, the file operators install. */
export const SHIPPED_HAPROXY_CFG = fileURLToPath(new URL('../../docs/deploy/haproxy.cfg', import.meta.url))

export interface HaproxyOptions {
  /** The whole haproxy.cfg; it must bind the frontend to 127.0.0.1:ctx.port. */
  readonly render: (ctx: DaemonContext) => string | Promise<string>
  readonly startTimeoutMs?: number
}

export type RunningHaproxy = RunningDaemon

const isRoot = () => process.getuid?.() === 0

export async function startHaproxy(options: HaproxyOptions): Promise<RunningHaproxy> {
  return await startDaemon({
    name: 'HAProxy',
    binary: 'haproxy',
    debianPackage: 'haproxy',
    prepare: async (ctx) => {
      const path = join(ctx.dir, 'haproxy.cfg')
      await writeFile(path, await options.render(ctx))
      // -db: stay in the foreground, no daemon mode. Logs go to stderr (see renderShippedHaproxy).
      return ['-db', '-f', path]
    },
    portTaken: (logs, port) => logs.includes(`cannot bind socket`) && logs.includes(`:${port}]`),
    ...(options.startTimeoutMs !== undefined ? { startTimeoutMs: options.startTimeoutMs } : {}),
  })
}

export interface ShippedProxyOptions {
  /** Causeway's plain-HTTP port on 127.0.0.1. */
  readonly backendPort: number
  /** The proxy's TLS certificate and key (e.g. makeTlsFixtures(...).good). */
  readonly cert: CertFiles
}

/**
 * A shipped HAProxy config (`template`, named `file` in errors) with what
 * differs on a test machine rewritten: the listen address, the certificate
 * path (HAProxy wants certificate and key in one PEM file), the stats socket
 * path and the log target (stderr, so the harness captures it); `servers`
 * rewrites the backend's server lines. When not root, the chroot and the
 * switch to the `haproxy` user are dropped, since only root can do either.
 */
export async function renderShippedConfig(
  ctx: DaemonContext,
  template: string,
  file: string,
  cert: CertFiles,
  servers: (text: string) => string,
): Promise<string> {
  const pem = join(ctx.dir, 'proxy.pem')
  await writeFile(pem, (await readFile(cert.certPath, 'utf8')) + (await readFile(cert.keyPath, 'utf8')), { mode: 0o600 })
  let text = await readFile(template, 'utf8')
  text = replaceExactly(text, 'bind :443 ssl crt /etc/haproxy/certs/chat.example.org.pem', `bind 127.0.0.1:${ctx.port} ssl crt ${pem}`, file)
  text = servers(text)
  text = replaceExactly(text, 'stats socket /run/haproxy/admin.sock ', `stats socket ${join(ctx.dir, 'admin.sock')} `, file)
  text = replaceExactly(text, 'log /dev/log local0', 'log stderr format raw local0', file)
  if (!isRoot()) {
    for (const line of ['    chroot /var/lib/haproxy\n', '    user haproxy\n', '    group haproxy\n'])
      text = replaceExactly(text, line, '', file)
  }
  return text
}

/** docs/deploy/haproxy.cfg, its one server pointed at Causeway's port. */
export async function renderShippedHaproxy(ctx: DaemonContext, options: ShippedProxyOptions): Promise<string> {
  const file = 'docs/deploy/haproxy.cfg'
  return renderShippedConfig(ctx, SHIPPED_HAPROXY_CFG, file, options.cert, (text) =>
    replaceExactly(text, 'server causeway1 127.0.0.1:5280 ', `server causeway1 127.0.0.1:${options.backendPort} `, file),
  )
}

/** docs/deploy/haproxy.cfg in front of Causeway on `backendPort`, terminating TLS with `cert`. */
export async function startShippedHaproxy(options: ShippedProxyOptions): Promise<RunningHaproxy> {
  return await startHaproxy({ render: (ctx) => renderShippedHaproxy(ctx, options) })
}
