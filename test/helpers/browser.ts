/**
 * Debian's Chromium driven by playwright-core, for browser end-to-end tests.
 * Never downloads a browser: /usr/bin/chromium must be installed. Each
 * launch gets a fresh profile in a temp dir (so no cookies, storage or
 * cache leak between tests).
 *
 * Nothing leaves loopback: Chromium's proxy is a local dead end that refuses
 * every request (loopback bypasses it), and every page request to another
 * host is recorded, so a test can prove the page stayed off the network.
 * No request interception (page.route): while any route is active,
 * playwright-core answers CORS preflights itself, permissively, and the
 * server's own CORS handling would never be exercised.
 */
import { X509Certificate, createHash } from 'node:crypto'
import { accessSync, constants as fsConstants } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import type { BrowserContext, Page } from 'playwright-core'
import { cleanUpOnExit } from './exit-cleanup.js'

export const CHROMIUM_PATH = '/usr/bin/chromium'

export const CHROMIUM_INSTALL_HINT =
  `Chromium is required for the browser tests but ${CHROMIUM_PATH} was not found. ` +
  'Install it with: apt-get install -y chromium (the tests never download a browser)'

/** Passed to Chromium as they are; playwright-core adds its own automation switches. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const

export interface BrowserSession {
  readonly context: BrowserContext
  /** The profile's first tab. */
  readonly page: Page
  /** The temp profile dir (`--user-data-dir`), removed by close(). */
  readonly userDataDir: string
  /** `console.error` output and uncaught exceptions, in order. */
  readonly consoleErrors: string[]
  /** Requests that failed (`METHOD url: reason`), including aborted ones and blocked ones. */
  readonly failedRequests: string[]
  /** Page requests and WebSockets to anything but loopback (all of them dead-ended at the proxy). */
  readonly blockedRequests: string[]
  /** What reached the dead-end proxy (`METHOD target`): the page's attempts, and any of Chromium's own. */
  readonly proxyAttempts: string[]
  /**
   * Another tab, with the same default timeout. A tab has its own sessionStorage, so a page opened
   * in it cannot restore a BOSH session (Strophe's `strophe-bosh-session`) an earlier page left behind.
   */
  newPage(): Promise<Page>
  /** Everything above plus the WebSocket connections the page opened, for a failing test's output. */
  diagnostics(): string
  /** Close the browser, then remove the profile dir. Idempotent. */
  close(): Promise<void>
}

export interface LaunchOptions {
  /** Per-action timeout for the page (click, fill, waitFor…); default 15000 ms. */
  readonly actionTimeoutMs?: number
  /** Viewport of the first tab; default 1280×800. */
  readonly viewport?: { width: number; height: number }
  /**
   * Certificates (PEM) Chromium accepts although no CA in its store signed
   * them, pinned by public key (`--ignore-certificate-errors-spki-list`);
   * every other certificate is still verified.
   */
  readonly trustCertificates?: readonly string[]
}

/** base64 SHA-256 of a certificate's SubjectPublicKeyInfo, as Chromium's SPKI allowlist wants it. */
function spkiHash(pem: string): string {
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' })
  return createHash('sha256').update(spki).digest('base64')
}

/** Hosts a page may reach: only this machine. */
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])

function isLocal(raw: string): boolean {
  const url = new URL(raw)
  if (url.protocol === 'data:' || url.protocol === 'blob:' || url.protocol === 'about:') return true
  return LOOPBACK.has(url.hostname)
}

/** An HTTP proxy that forwards nothing: every request and CONNECT gets a 403, and is recorded. */
async function startDeadEndProxy(attempts: string[]): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server = createServer((request, response) => {
    attempts.push(`${request.method} ${request.url}`)
    response.writeHead(403, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' }).end('No network beyond loopback in tests\n')
  })
  server.on('connect', (request, socket: Socket) => {
    attempts.push(`CONNECT ${request.url}`)
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
  })
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

export function assertChromiumInstalled(): void {
  try {
    accessSync(CHROMIUM_PATH, fsConstants.X_OK)
  } catch {
    throw new Error(CHROMIUM_INSTALL_HINT)
  }
}

export async function launchBrowser(options: LaunchOptions = {}): Promise<BrowserSession> {
  assertChromiumInstalled()
  const proxyAttempts: string[] = []
  const proxy = await startDeadEndProxy(proxyAttempts)
  const userDataDir = await mkdtemp(join(tmpdir(), 'causeway-chromium-'))
  // Should the process exit with the browser open, the profile goes too (playwright kills Chromium itself).
  const forget = cleanUpOnExit(() => {}, userDataDir)
  let context: BrowserContext
  try {
    // --user-data-dir cannot go in args: playwright-core wants it as launchPersistentContext's first argument.
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      args: [
        ...CHROMIUM_ARGS,
        ...(options.trustCertificates?.length ? [`--ignore-certificate-errors-spki-list=${options.trustCertificates.map(spkiHash).join(',')}`] : []),
      ],
      headless: true,
      viewport: options.viewport ?? { width: 1280, height: 800 },
      timeout: 30_000,
      // Naming loopback here keeps playwright-core from adding <-loopback> (which would proxy it too).
      proxy: { server: proxy.url, bypass: '127.0.0.1,localhost,[::1]' },
    })
  } catch (err) {
    forget()
    await rm(userDataDir, { recursive: true, force: true })
    await proxy.close()
    throw err
  }

  const consoleErrors: string[] = []
  const failedRequests: string[] = []
  const blockedRequests: string[] = []
  const websockets: string[] = []

  context.on('request', (request) => {
    if (!isLocal(request.url())) blockedRequests.push(`${request.method()} ${request.url()}`)
  })
  context.on('requestfailed', (request) => {
    failedRequests.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText ?? 'failed'}`)
  })
  const watch = (page: Page) => {
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text())
    })
    page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.stack ?? error.message}`))
    page.on('websocket', (ws) => {
      websockets.push(`open ${ws.url()}`)
      if (!isLocal(ws.url())) blockedRequests.push(`WebSocket ${ws.url()}`)
      ws.on('socketerror', (error) => websockets.push(`error ${ws.url()}: ${error}`))
      ws.on('close', () => websockets.push(`closed ${ws.url()}`))
    })
  }
  context.pages().forEach(watch)
  context.on('page', watch)

  const actionTimeoutMs = options.actionTimeoutMs ?? 15_000
  const page = context.pages()[0] ?? (await context.newPage())
  page.setDefaultTimeout(actionTimeoutMs)

  let closing: Promise<void> | undefined
  const list = (title: string, items: readonly string[]) =>
    `--- ${title} (${items.length}) ---\n${items.map((item) => `  ${item}`).join('\n')}`
  return {
    context,
    page,
    userDataDir,
    consoleErrors,
    failedRequests,
    blockedRequests,
    proxyAttempts,
    newPage: async () => {
      const tab = await context.newPage()
      tab.setDefaultTimeout(actionTimeoutMs)
      return tab
    },
    diagnostics: () =>
      [
        list('browser console errors', consoleErrors),
        list('failed requests', failedRequests),
        list('blocked (non-loopback) requests', blockedRequests),
        list('dead-end proxy attempts', proxyAttempts),
        list('page WebSockets', websockets),
      ].join('\n'),
    close: () =>
      (closing ??= (async () => {
        try {
          await context.close()
        } finally {
          forget()
          await rm(userDataDir, { recursive: true, force: true })
          await proxy.close()
        }
      })()),
  }
}
