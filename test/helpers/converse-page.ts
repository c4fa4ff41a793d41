/**
 * A static web site for browser tests: an HTML page that runs Converse.js
 * (from node_modules/converse.js/dist, read-only under /dist/) with the
 * settings a test gives it. It listens on its own loopback port, so its
 * origin is never Causeway's: CORS and the Origin allowlist are exercised as
 * on a real deployment. It can also play the site's reverse proxy for
 * Causeway's paths (forward), for same-origin setups, and hold back a
 * reloading page's start (holdBoot).
 *
 * The page keeps Converse off the internet (OFFLINE_SETTINGS) and installs a
 * small Converse plugin that exposes, on `window.causewayTest`, what tests
 * read besides the DOM: connection status changes and lifecycle events.
 */
import { createReadStream } from 'node:fs'
import { realpath, stat } from 'node:fs/promises'
import { createServer, request as httpRequest } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createRequire } from 'node:module'
import { connect } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { dirname, extname, join, sep } from 'node:path'

/** converse.initialize() settings; see node_modules/converse.js/docs/src/content/docs/configuration.md. */
export type ConverseSettings = Record<string, unknown>

/** A Strophe connection status by name ('CONNECTING', 'CONNECTED', 'ATTACHED', 'CONNFAIL', …) and Converse's message for it. */
export interface ConnectionStatus {
  readonly status: string
  readonly message?: string | null
}

/** What the page exposes on `window.causewayTest` for tests to read (page.evaluate, page.waitForFunction). */
export interface CausewayTestHooks {
  /** Converse events in order: 'connected', 'reconnected', 'disconnected', 'will-reconnect', … */
  readonly events: string[]
  /** Every connection status change, in order. */
  readonly statuses: ConnectionStatus[]
  /** converse.initialize() has returned. */
  readonly ready: boolean
  /** converse.initialize() threw this. */
  readonly error?: string
  status(): ConnectionStatus
  /** The BOSH sid Converse is using; undefined over WebSocket. */
  boshSid(): string | undefined
  /** What the connection really is. */
  transport(): 'bosh' | 'websocket' | 'other' | undefined
}

declare global {
  interface Window {
    causewayTest?: CausewayTestHooks
  }
}

/**
 * Converse defaults that would reach the internet, turned off. Tests fail on
 * any non-loopback request (test/helpers/browser.ts blocks and records them).
 */
export const OFFLINE_SETTINGS: ConverseSettings = Object.freeze({
  // Chunks, emoji.json and translations from our own /dist/, not a CDN path guessed at build time.
  assets_path: '/dist/',
  // English is built in; any other locale is a chunk fetch.
  i18n: 'en',
  // XEP-0156 lookup at https://<domain>/.well-known/host-meta (port 443, https/wss links only).
  discover_connection_methods: false,
  // Provider lists from data.xmpp.net (add-contact autocomplete, registration form).
  autocomplete_providers_url: '',
  xmpp_providers_url: '',
  allow_registration: false,
  // Media from URLs in messages, HEAD requests for link previews, third-party players.
  render_media: false,
  show_images_inline: false,
  fetch_url_headers: false,
  embed_3rd_party_media_players: false,
  allowed_image_domains: [],
  allowed_audio_domains: [],
  allowed_video_domains: [],
  // System emoji fonts, not Twemoji images from a CDN.
  use_system_emojis: true,
  // XEP-0357 push registration and OMEMO (loads libsignal wasm, publishes device lists).
  blacklisted_plugins: ['converse-omemo', 'converse-omemo-views', 'converse-push'],
  push_app_servers: [],
  enable_muc_push: false,
  omemo_default: false,
  // No desktop notification permission prompts, no sounds.
  show_desktop_notifications: false,
  play_sounds: false,
})

const require = createRequire(import.meta.url)
/** node_modules/converse.js/dist, resolved through the package (it exports ./dist/*). */
export const CONVERSE_DIST = dirname(require.resolve('converse.js/dist/converse.min.js'))

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.ttf': 'font/ttf',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
  '.html': 'text/html; charset=utf-8',
}

export interface ConversePageServer {
  /** `http://127.0.0.1:<port>` (or `http://localhost:<port>`): what the browser sends as Origin. */
  readonly origin: string
  /**
   * Publish a page that calls converse.initialize({ ...OFFLINE_SETTINGS, ...settings });
   * returns its URL. Reloading the URL serves the same page.
   */
  page(settings: ConverseSettings, options?: PageOptions): string
  /**
   * Hold back the page's boot script (the module that calls converse.initialize) on its next request:
   * `requested` resolves once the browser asked for it, i.e. a new document is running and the
   * previous one is gone; Converse does not start until `release()`. For "while the page reloads".
   */
  holdBoot(): BootHold
  /**
   * Act as the site's reverse proxy for `path` (e.g. '/http-bind'): requests and WebSocket upgrades
   * there are relayed to the same path on `target` (Causeway's http://127.0.0.1:<port>) with every
   * header as sent (Host and Origin included). The page can then use Causeway same-origin.
   */
  forward(path: string, target: string): void
  /**
   * Answer GET `path` with `handler`'s JSON (the site's own API, e.g. a
   * prebind_url): status 200 unless the handler gives another.
   */
  json(path: string, handler: () => Promise<{ status?: number; body: unknown }>): void
  /** `METHOD path status` of every request served, in order. */
  readonly requests: string[]
  stop(): Promise<void>
}

/** What the page does besides converse.initialize(settings). */
export interface PageOptions {
  /**
   * Strophe's Connection.maxRetries (default 5; not a Converse setting). Strophe resends a failed
   * BOSH request at once, then after 8, 27, 64… s before it gives up; 0 gives up at the first failure.
   */
  readonly stropheMaxRetries?: number
}

export interface BootHold {
  readonly requested: Promise<void>
  release(): void
}

export interface ConversePageOptions {
  /** Host name in the page's URL (and so its origin); default 127.0.0.1. The server listens on 127.0.0.1 either way. */
  readonly host?: '127.0.0.1' | 'localhost'
}

/** JSON that is safe inside <script>: no `</script>`, no `<!--`, no U+2028/9 surprises. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** The boot module's path: separate from the page so a test can hold it back (holdBoot). */
const BOOT_PATH = '/causeway-boot.js'

/* Runs in the browser: boots Converse and fills in `window.causewayTest` (CausewayTestHooks). */
const BOOT_SCRIPT = `
import converse from '/dist/converse.min.js'

const { settings, options } = JSON.parse(document.getElementById('converse-settings').textContent)
const hooks = { events: [], statuses: [], ready: false, error: undefined }
window.causewayTest = hooks

// Converse registers its custom elements only if the name is still free. The
// fullscreen footer shows sponsor logos loaded from conversejs.org: take its name first.
customElements.define('converse-footer', class extends HTMLElement {})

converse.plugins.add('causeway-test-hooks', {
  initialize () {
    const _converse = this._converse
    const { api } = _converse
    const { Strophe } = converse.env
    const statusName = (value) => Object.keys(Strophe.Status).find((k) => Strophe.Status[k] === value) ?? String(value)
    const feedback = _converse.state.connfeedback
    hooks.status = () => ({ status: statusName(feedback.get('connection_status')), message: feedback.get('message') })
    feedback.on('change', () => hooks.statuses.push(hooks.status()))
    hooks.boshSid = () => api.tokens?.get('sid') ?? undefined
    hooks.transport = () => !api.connection.get() ? undefined : api.connection.isType('websocket') ? 'websocket' : api.connection.isType('bosh') ? 'bosh' : 'other'
    api.listen.on('connectionInitialized', () => {
      if (options.stropheMaxRetries !== undefined) api.connection.get().maxRetries = options.stropheMaxRetries
    })
    for (const name of ['connected', 'reconnected', 'disconnected', 'will-reconnect', 'noResumeableBOSHSession']) {
      api.listen.on(name, () => hooks.events.push(name))
    }
  },
})

// Says in every screenshot what the page connects to; takes no clicks.
const label = document.createElement('div')
label.id = 'causeway-test-label'
label.textContent = settings.websocket_url ? \`websocket_url \${settings.websocket_url}\` : settings.bosh_service_url ? \`bosh_service_url \${settings.bosh_service_url}\` : 'connection URL: XEP-0156 discovery'
label.style.cssText = 'position:fixed;left:4px;bottom:2px;max-width:205px;font:11px monospace;color:#555;word-break:break-all;pointer-events:none;z-index:100000'
document.body.append(label)

try {
  await converse.initialize({
    ...settings,
    whitelisted_plugins: [...(settings.whitelisted_plugins ?? []), 'causeway-test-hooks'],
  })
  hooks.ready = true
} catch (error) {
  hooks.error = String(error?.stack ?? error)
  throw error
}
`

function html(settings: ConverseSettings, options: PageOptions): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Converse.js through Causeway</title>
<link rel="icon" href="/dist/images/favicon.ico">
<link rel="stylesheet" href="/dist/converse.min.css">
<script type="application/json" id="converse-settings">${scriptJson({ settings: { ...OFFLINE_SETTINGS, ...settings }, options })}</script>
<script type="module" src="${BOOT_PATH}"></script>
</head>
<body class="converse-fullscreen"></body>
</html>
`
}

/** The file under CONVERSE_DIST that `/dist/<rest>` names, or undefined when it names none (or tries to leave it). */
async function distFile(root: string, rest: string): Promise<string | undefined> {
  let decoded: string
  try {
    decoded = decodeURIComponent(rest)
  } catch {
    return undefined
  }
  if (decoded === '' || decoded.includes('\0') || decoded.includes('\\')) return undefined
  const segments = decoded.split('/')
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return undefined
  try {
    // realpath too: a symlink inside dist must not lead outside it.
    const file = await realpath(join(root, ...segments))
    if (!file.startsWith(root + sep)) return undefined
    return (await stat(file)).isFile() ? file : undefined
  } catch {
    return undefined
  }
}

/** One HTTP exchange relayed to `target`, as a reverse proxy would; a client that goes away takes the upstream request with it. */
function relay(request: IncomingMessage, response: ServerResponse, target: URL): void {
  const upstream = httpRequest(
    { host: target.hostname, port: target.port, method: request.method, path: request.url, headers: request.headers },
    (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(response)
    },
  )
  upstream.on('error', () => (response.headersSent ? response.destroy() : response.writeHead(502).end()))
  response.once('close', () => {
    if (!response.writableFinished) upstream.destroy()
  })
  request.pipe(upstream)
}

export async function startConversePage(options: ConversePageOptions = {}): Promise<ConversePageServer> {
  const root = await realpath(CONVERSE_DIST)
  const pages = new Map<string, string>()
  const requests: string[] = []
  /** Holds not yet met by a request, oldest first; every hold's release, so stop() never leaves a request hanging. */
  const holds: Array<{ reached: () => void; released: Promise<void> }> = []
  const releases = new Set<() => void>()
  const forwards = new Map<string, URL>()
  const apis = new Map<string, () => Promise<{ status?: number; body: unknown }>>()
  const sockets = new Set<Socket>()

  const finish = (request: IncomingMessage, response: ServerResponse, status: number, headers: Record<string, string>, body?: string) => {
    requests.push(`${request.method} ${request.url} ${status}`)
    response.writeHead(status, { 'x-content-type-options': 'nosniff', ...headers })
    response.end(request.method === 'HEAD' ? undefined : body)
  }
  const notFound = (request: IncomingMessage, response: ServerResponse) =>
    finish(request, response, 404, { 'content-type': 'text/plain; charset=utf-8' }, 'Not found\n')

  const server = createServer((request, response) => {
    void (async () => {
      const path = new URL(request.url ?? '/', 'http://page.invalid').pathname
      const target = forwards.get(path)
      if (target !== undefined) {
        requests.push(`${request.method} ${request.url} (forwarded)`)
        return relay(request, response, target)
      }
      const api = apis.get(path)
      if (api !== undefined && request.method === 'GET') {
        const answer = await api()
        return finish(request, response, answer.status ?? 200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }, JSON.stringify(answer.body))
      }
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        return finish(request, response, 405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }, 'Method not allowed\n')
      }
      if (path === BOOT_PATH) {
        const hold = holds.shift()
        if (hold !== undefined) {
          hold.reached()
          await hold.released
        }
        return finish(request, response, 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' }, BOOT_SCRIPT)
      }
      const page = pages.get(path)
      if (page !== undefined) {
        return finish(request, response, 200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }, page)
      }
      if (!path.startsWith('/dist/')) return notFound(request, response)
      const file = await distFile(root, path.slice('/dist/'.length))
      if (file === undefined) return notFound(request, response)
      requests.push(`${request.method} ${request.url} 200`)
      response.writeHead(200, {
        'content-type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
        'x-content-type-options': 'nosniff',
        'cache-control': 'max-age=3600',
      })
      if (request.method === 'HEAD') return response.end()
      createReadStream(file)
        .on('error', () => response.destroy())
        .pipe(response)
    })().catch(() => response.destroy())
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  // WebSocket upgrades on a forwarded path: replay the handshake to the target, then splice the sockets.
  server.on('upgrade', (request: IncomingMessage, client: Socket, head: Buffer) => {
    const target = forwards.get(new URL(request.url ?? '/', 'http://page.invalid').pathname)
    if (target === undefined) return client.destroy()
    requests.push(`${request.method} ${request.url} (upgrade, forwarded)`)
    const upstream = connect(Number(target.port), target.hostname, () => {
      const lines = [`${request.method} ${request.url} HTTP/1.1`]
      for (let i = 0; i < request.rawHeaders.length; i += 2) lines.push(`${request.rawHeaders[i]}: ${request.rawHeaders[i + 1]}`)
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`)
      if (head.length > 0) upstream.write(head)
      client.pipe(upstream).pipe(client)
    })
    sockets.add(upstream)
    upstream.once('close', () => {
      sockets.delete(upstream)
      client.destroy()
    })
    upstream.on('error', () => client.destroy())
    client.on('error', () => upstream.destroy())
    client.once('close', () => upstream.destroy())
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  const origin = `http://${options.host ?? '127.0.0.1'}:${port}`
  let stopped: Promise<void> | undefined
  return {
    origin,
    requests,
    holdBoot: () => {
      let reached!: () => void
      let release!: () => void
      const requested = new Promise<void>((resolve) => (reached = resolve))
      const released = new Promise<void>((resolve) => (release = resolve))
      holds.push({ reached, released })
      releases.add(release)
      return { requested, release }
    },
    forward: (path, target) => {
      forwards.set(path, new URL(target))
    },
    json: (path, handler) => {
      apis.set(path, handler)
    },
    page: (settings, pageOptions = {}) => {
      const path = `/chat-${pages.size + 1}.html`
      pages.set(path, html(settings, pageOptions))
      return origin + path
    },
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        for (const release of releases) release()
        server.close(() => resolve())
        server.closeAllConnections()
        for (const socket of sockets) socket.destroy()
      })),
  }
}
