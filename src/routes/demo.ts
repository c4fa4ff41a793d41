/**
 * `--demo`: a Converse.js page at /demo/ that talks to this very listener,
 * so a new user can see Causeway work in a browser within a minute. The
 * Converse bundle comes from the optional `converse.js` package; nothing
 * here is served unless the demo is switched on.
 */
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import { escapeText } from '../core/xml/serialize.js'

export interface DemoOptions {
  readonly boshPath: string
  readonly websocketPath: string
  /** Offered as the login domain. */
  readonly domain: string
}

const DEMO_PATH = '/demo/'

/** Where converse.js's dist bundle is installed; a clear error when it is not. */
function converseDist(): string {
  try {
    const require = createRequire(import.meta.url)
    // The package exports ./dist/* but not its package.json.
    return dirname(require.resolve('converse.js/dist/converse.min.js'))
  } catch {
    throw new Error('demo: the converse.js package is not installed (it is an optional dependency: npm install converse.js)')
  }
}

/** JSON for an inline script: `<` escaped so no value can close the script element. */
function inlineJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c')
}

function page(options: DemoOptions): string {
  const settings = { boshPath: options.boshPath, websocketPath: options.websocketPath, domain: options.domain, assets: `${DEMO_PATH}dist/` }
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Causeway demo — ${escapeText(options.domain)}</title>
<link rel="stylesheet" href="${DEMO_PATH}dist/converse.min.css">
<style>
  /* The bar sits above Converse: fixed on top, and Converse's fullscreen chat made that much shorter. */
  #causeway-demo-bar { position: fixed; top: 0; left: 0; right: 0; height: 30px; box-sizing: border-box; z-index: 2147483647;
    display: flex; align-items: center; gap: 6px; font: 14px system-ui, sans-serif; padding: 0 12px; background: #234; color: #fff; }
  #causeway-demo-bar a { color: #9cf; margin-left: 8px; }
  #causeway-demo-bar a[aria-current] { color: #fff; font-weight: bold; text-decoration: none; }
  html body.converse-fullscreen { --fullpage-chat-height: calc(var(--vh, 1vh) * 100 - 30px); }
  html body #conversejs.converse-fullscreen { top: 30px !important; height: calc(100% - 30px) !important; }
</style>
</head>
<body class="converse-fullscreen">
<div id="causeway-demo-bar">Causeway demo · transport: <b id="causeway-transport"></b> · switch to
  <a id="causeway-use-websocket" href="?transport=websocket">WebSocket</a> <a id="causeway-use-bosh" href="?transport=bosh">BOSH</a></div>
<script type="module">
  // The dist bundle is an ES module: it exports converse rather than setting a global.
  import converse from '${DEMO_PATH}dist/converse.min.js';
  const demo = ${inlineJson(settings)};
  const transport = new URLSearchParams(location.search).get('transport') === 'bosh' ? 'bosh' : 'websocket';
  document.getElementById('causeway-transport').textContent = transport === 'bosh' ? 'BOSH (XEP-0124/0206)' : 'WebSocket (RFC 7395)';
  document.getElementById(transport === 'bosh' ? 'causeway-use-bosh' : 'causeway-use-websocket').setAttribute('aria-current', 'page');
  const ws = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + demo.websocketPath;
  const bosh = location.origin + demo.boshPath;
  // The fullscreen footer loads sponsor logos from conversejs.org; Converse keeps a name already taken.
  customElements.define('converse-footer', class extends HTMLElement {});
  converse.initialize({
    ...(transport === 'bosh' ? { bosh_service_url: bosh, keepalive: true } : { websocket_url: ws }),
    view_mode: 'fullscreen',
    default_domain: demo.domain,
    auto_reconnect: true,
    allow_non_roster_messaging: true,
    // Everything from this server: no CDN, provider lists, link previews, push or OMEMO key servers.
    assets_path: demo.assets,
    i18n: 'en',
    discover_connection_methods: false,
    show_connection_url_input: false,
    allow_registration: false,
    autocomplete_providers_url: '',
    xmpp_providers_url: '',
    render_media: false,
    show_images_inline: false,
    fetch_url_headers: false,
    embed_3rd_party_media_players: false,
    use_system_emojis: true,
    blacklisted_plugins: ['converse-omemo', 'converse-omemo-views', 'converse-push'],
    show_desktop_notifications: false,
    play_sounds: false,
  });
</script>
</body>
</html>
`
}

export async function registerDemo(app: FastifyInstance, options: DemoOptions): Promise<void> {
  const root = converseDist()
  await app.register(fastifyStatic, { root, prefix: `${DEMO_PATH}dist/`, decorateReply: false, index: false, dotfiles: 'deny' })
  const html = page(options)
  app.get('/demo', async (_request, reply) => reply.redirect(DEMO_PATH))
  // Someone typing the host name only lands on the demo.
  app.get('/', async (_request, reply) => reply.redirect(DEMO_PATH))
  app.get(DEMO_PATH, async (_request, reply) => reply.headers({ 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).send(html))
}
