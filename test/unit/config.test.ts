import t from 'tap'
import type { Test } from 'tap'
import {
  ConfigError,
  CROSS_CHECKS,
  DEFAULT_CONFIG,
  envName,
  flagName,
  loadConfig,
  makeConfig,
  OPTION_KEYS,
  OPTIONS,
  optionSpec,
  parseCommandLine,
} from '../../src/config/index.js'
import { normaliseOrigin } from '../../src/net/origin.js'
import type { Config, ConfigSources, ConfigValues, OptionKey } from '../../src/config/index.js'

type Files = Record<string, string>

function sources(argv: string[] = [], env: Record<string, string | undefined> = {}, files: Files = {}): ConfigSources {
  return {
    argv,
    env,
    readFile: (path) => {
      const text = files[path]
      if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`)
      return text
    },
  }
}

const load = (argv: string[] = [], env: Record<string, string | undefined> = {}, files: Files = {}): Config =>
  loadConfig(sources(argv, env, files))

/** Run `fn`, expect a ConfigError with this key whose message matches. */
function configError(t: Test, fn: () => unknown, key: string, message: RegExp | string, label: string = key): void {
  try {
    fn()
    t.fail(`expected a ConfigError for ${key}`)
  } catch (err) {
    t.type(err, ConfigError, label)
    if (!(err instanceof ConfigError)) throw err
    t.equal(err.key, key, `key ${key}: ${label}`)
    if (typeof message === 'string') t.equal(err.message, message, label)
    else t.match(err.message, message, label)
    t.ok(err.message.startsWith(`${key}: `), `message starts with the key: ${err.message}`)
  }
}

t.test('defaults', async (t) => {
  const config = load()
  for (const key of OPTION_KEYS) {
    if (key === 'upstream') continue
    t.same(config[key], OPTIONS[key].default, key)
    t.same(DEFAULT_CONFIG[key], OPTIONS[key].default, `DEFAULT_CONFIG.${key}`)
  }
  t.equal(config.host, '127.0.0.1')
  t.equal(config.port, 5280)
  t.equal(config.websocketPath, '/xmpp-websocket')
  t.equal(config.boshPath, '/http-bind')
  t.equal(config.upstreamCaFile, undefined)
  t.same(config.allowedOrigin, [])
  t.equal(config.maxStanzaBytes, 262144)
  t.equal(config.logLevel, 'info')
  t.equal(config.nodeId, '')
  t.equal(config.upstream.describe(), '* → tcp://127.0.0.1:5222')
  t.same(config.upstream.resolve('example.org'), { ok: true, domain: 'example.org', target: { kind: 'tcp', host: '127.0.0.1', port: 5222 } })
  t.ok(Object.isFrozen(config), 'the config is frozen')
  t.equal(DEFAULT_CONFIG.upstream.describe(), '* → tcp://127.0.0.1:5222')
})

t.test('keys carry their unit: Ms, Bytes, Seconds', async (t) => {
  for (const key of OPTION_KEYS) {
    const spec = optionSpec(key)
    const unit = spec.kind === 'integer' ? spec.unit : 'none'
    t.equal(key.endsWith('Ms'), unit === 'ms', `${key} ends in Ms iff milliseconds`)
    t.equal(key.endsWith('Bytes'), unit === 'bytes', `${key} ends in Bytes iff bytes`)
    t.equal(key.endsWith('Seconds'), unit === 'seconds', `${key} ends in Seconds iff seconds`)
    t.ok(spec.description.length > 20 && !spec.description.includes('\n'), `${key} has a one-line description`)
    if (spec.kind === 'integer') {
      t.ok(spec.min <= spec.default && spec.default <= spec.max, `${key} default within its bounds`)
    }
  }
})

t.test('names: flags are kebab-case, variables CAUSEWAY_UPPER_SNAKE', async (t) => {
  t.equal(flagName('maxStanzaBytes'), '--max-stanza-bytes')
  t.equal(flagName('maxSessionsPerIp'), '--max-sessions-per-ip')
  t.equal(envName('maxStanzaBytes'), 'CAUSEWAY_MAX_STANZA_BYTES')
  t.equal(envName('wsPingIntervalMs'), 'CAUSEWAY_WS_PING_INTERVAL_MS')
  t.equal(envName('maxSessionsPerIp'), 'CAUSEWAY_MAX_SESSIONS_PER_IP')
})

t.test('each source sets an option', async (t) => {
  t.equal(load(['--port', '6000']).port, 6000, '--flag value')
  t.equal(load(['--port=6001']).port, 6001, '--flag=value')
  t.equal(load([], { CAUSEWAY_PORT: '6002' }).port, 6002, 'environment')
  t.equal(load(['--config', '/c.json'], {}, { '/c.json': '{"port": 6003}' }).port, 6003, 'file via --config')
  t.equal(load(['--config=/c.json'], {}, { '/c.json': '{"port": 6004}' }).port, 6004, 'file via --config=')
  t.equal(load([], { CAUSEWAY_CONFIG: '/c.json' }, { '/c.json': '{"port": 6005}' }).port, 6005, 'file via CAUSEWAY_CONFIG')
  t.equal(load(['--port', '0']).port, 0, 'port 0: the OS picks')
  t.equal(load(['--host', '::']).host, '::')
  t.equal(load(['--host', 'LocalHost']).host, 'localhost')
  t.equal(load(['--log-level', 'DEBUG']).logLevel, 'debug')
  t.equal(load(['--upstream-ca-file', '/etc/ssl/ca.pem']).upstreamCaFile, '/etc/ssl/ca.pem')
  t.equal(load(['--node-id', 'node-7']).nodeId, 'node-7')
})

t.test('precedence: defaults < file < environment < flags', async (t) => {
  const files = { '/c.json': JSON.stringify({ port: 1001, maxSessions: 500, boshMaxHold: 2, boshMaxRequests: 3 }) }
  const env = { CAUSEWAY_CONFIG: '/c.json', CAUSEWAY_PORT: '1002', CAUSEWAY_MAX_SESSIONS: '600' }
  const config = load(['--port', '1003'], env, files)
  t.equal(config.port, 1003, 'flag beats environment and file')
  t.equal(config.maxSessions, 600, 'environment beats file')
  t.equal(config.boshMaxHold, 2, 'file beats default')
  t.equal(config.maxSessionsPerIp, 50, 'default when nobody sets it')

  const both = load(['--config', '/flag.json'], { CAUSEWAY_CONFIG: '/env.json' }, { '/flag.json': '{"port": 1}', '/env.json': '{"port": 2}' })
  t.equal(both.port, 1, '--config beats CAUSEWAY_CONFIG')
  t.equal(load([], { CAUSEWAY_CONFIG: '' }).port, 5280, 'empty CAUSEWAY_CONFIG: no file')
})

t.test('an empty environment value counts as unset', async (t) => {
  const config = load([], { CAUSEWAY_PORT: '', CAUSEWAY_ALLOWED_ORIGIN: '', CAUSEWAY_NODE_ID: '', CAUSEWAY_UPSTREAM: undefined })
  t.equal(config.port, 5280)
  t.same(config.allowedOrigin, [])
  t.equal(config.upstream.describe(), '* → tcp://127.0.0.1:5222')
  t.equal(load([], { PATH: '/bin', HOME: '/root', causeway_port: '1' }).port, 5280, 'other variables are not ours')
})

t.test('repeatable options from each source', async (t) => {
  const fromFlags = load(['--upstream', 'a.example=tcp://10.0.0.1', '--upstream=b.example=tls://10.0.0.2', '--allowed-origin', 'https://a.example', '--allowed-origin', 'https://b.example:8443'])
  t.equal(fromFlags.upstream.describe(), 'a.example → tcp://10.0.0.1:5222, b.example → tls://10.0.0.2:5223')
  t.same(fromFlags.allowedOrigin, ['https://a.example', 'https://b.example:8443'])

  const fromEnv = load([], { CAUSEWAY_UPSTREAM: 'a.example=tcp://10.0.0.1, *=tcp://[::1]', CAUSEWAY_ALLOWED_ORIGIN: 'https://a.example,http://localhost:3000' })
  t.equal(fromEnv.upstream.describe(), 'a.example → tcp://10.0.0.1:5222, * → tcp://[::1]:5222')
  t.same(fromEnv.allowedOrigin, ['https://a.example', 'http://localhost:3000'])

  const file = { '/c.json': JSON.stringify({ upstream: ['a.example=srv'], allowedOrigin: ['https://a.example'] }) }
  const fromFile = load(['--config', '/c.json'], {}, file)
  t.equal(fromFile.upstream.describe(), 'a.example → srv', 'no * rule: the default * rule is replaced')
  t.same(fromFile.allowedOrigin, ['https://a.example'])

  const layered = load(['--config', '/c.json', '--allowed-origin', 'https://c.example'], { CAUSEWAY_UPSTREAM: 'b.example=tcp://b' }, file)
  t.equal(layered.upstream.describe(), 'b.example → tcp://b:5222', 'environment list replaces the file list')
  t.same(layered.allowedOrigin, ['https://c.example'], 'flag list replaces the file list')
})

t.test('allowedOrigin is normalised and deduplicated', async (t) => {
  const config = load(['--allowed-origin', 'HTTPS://Chat.Example.org:443', '--allowed-origin', 'https://chat.example.org', '--allowed-origin', 'http://[::1]:8080'])
  t.same(config.allowedOrigin, ['https://chat.example.org', 'http://[::1]:8080'])
  t.same(load(['--allowed-origin', '*']).allowedOrigin, ['*'])
  t.equal(normaliseOrigin('capacitor://localhost'), 'capacitor://localhost')
  t.equal(normaliseOrigin('http://example.org:80'), 'http://example.org')
  for (const bad of ['https://example.org/', 'example.org', 'https://user@example.org', 'https://example.org:0', 'https://example.org:99999', 'https://exa mple.org', 'null', 'https://bücher.example', 'https://[nope]']) {
    t.equal(normaliseOrigin(bad), undefined, bad)
    configError(t, () => load(['--allowed-origin', bad]), 'allowedOrigin', /^allowedOrigin: must be an origin scheme:\/\/host\[:port\]/, bad)
  }
})

t.test('booleans: --flag / --no-flag, true/false in the environment, JSON booleans', async (t) => {
  const withOrigin = ['--allowed-origin', 'https://a.example']
  t.equal(load([...withOrigin, '--cors-allow-credentials']).corsAllowCredentials, true)
  t.equal(load([...withOrigin, '--cors-allow-credentials', '--no-cors-allow-credentials']).corsAllowCredentials, false, 'last one wins')
  t.equal(load(['--no-cors-allow-credentials'], { CAUSEWAY_CORS_ALLOW_CREDENTIALS: 'true', CAUSEWAY_ALLOWED_ORIGIN: 'https://a.example' }).corsAllowCredentials, false, '--no-flag beats the environment')
  for (const [word, value] of [['true', true], ['TRUE', true], ['1', true], ['yes', true], ['false', false], ['0', false], ['no', false]] as const) {
    t.equal(load(withOrigin, { CAUSEWAY_CORS_ALLOW_CREDENTIALS: word }).corsAllowCredentials, value, word)
  }
  t.equal(load(['--config', '/c.json', ...withOrigin], {}, { '/c.json': '{"corsAllowCredentials": true}' }).corsAllowCredentials, true)
  configError(t, () => load([], { CAUSEWAY_CORS_ALLOW_CREDENTIALS: 'maybe' }), 'corsAllowCredentials', 'corsAllowCredentials: must be true or false (got "maybe" from CAUSEWAY_CORS_ALLOW_CREDENTIALS)')
  configError(t, () => load(['--config', '/c.json'], {}, { '/c.json': '{"corsAllowCredentials": "true"}' }), 'corsAllowCredentials', /must be true or false \(got "true" from config file \/c\.json\)/)
  configError(t, () => load(['--cors-allow-credentials=true']), 'corsAllowCredentials', /takes no value \(use --cors-allow-credentials or --no-cors-allow-credentials\)/)
})

t.test('the documented example message', async (t) => {
  configError(t, () => load(['--port', '70000']), 'port', 'port: must be an integer between 0 and 65535 (got "70000" from --port)')
  configError(t, () => load([], { CAUSEWAY_PORT: '70000' }), 'port', 'port: must be an integer between 0 and 65535 (got "70000" from CAUSEWAY_PORT)')
  configError(t, () => load(['--config', '/c.json'], {}, { '/c.json': '{"port": 70000}' }), 'port', 'port: must be an integer between 0 and 65535 (got 70000 from config file /c.json)')
  try {
    load(['--port', '70000'])
  } catch (err) {
    t.equal((err as ConfigError).source, '--port', '.source says where the value came from')
  }
})

/** Values that satisfy every cross-check, so a single out-of-range value is what fails. */
function integerCases(key: OptionKey): string[] {
  const spec = optionSpec(key)
  if (spec.kind !== 'integer') return []
  const cases = [String(spec.min - 1), String(spec.max + 1), '1.5', 'abc', '', '1e3', '0x10']
  if (spec.multipleOf !== undefined) cases.push(String(spec.min + 1))
  return cases
}

t.test('every integer option names its key and bounds when out of range', async (t) => {
  for (const key of OPTION_KEYS) {
    const spec = optionSpec(key)
    if (spec.kind !== 'integer') continue
    const unit = { ms: ' milliseconds', bytes: ' bytes', seconds: ' seconds', count: '' }[spec.unit]
    const multiple = spec.multipleOf === undefined ? '' : `, a multiple of ${spec.multipleOf}`
    const bound = `${key}: must be an integer between ${spec.min} and ${spec.max}${unit}${multiple}`
    for (const raw of integerCases(key)) {
      if (raw === '') continue // empty = unset in the environment; the flag form is checked below
      configError(t, () => load([`${flagName(key)}=${raw}`]), key, `${bound} (got ${JSON.stringify(raw)} from ${flagName(key)})`, `${key}=${raw} by flag`)
      configError(t, () => load([], { [envName(key)]: raw }), key, `${bound} (got ${JSON.stringify(raw)} from ${envName(key)})`, `${key}=${raw} by env`)
    }
    configError(t, () => load([`${flagName(key)}=`]), key, `${bound} (got "" from ${flagName(key)})`)
    configError(t, () => load(['--config', '/c.json'], {}, { '/c.json': JSON.stringify({ [key]: String(spec.default) }) }), key, `${bound} (got "${spec.default}" from config file /c.json)`, 'a JSON string is not a number')
    configError(t, () => load(['--config', '/c.json'], {}, { '/c.json': JSON.stringify({ [key]: spec.max + 0.5 }) }), key, new RegExp(`^${key}: must be an integer`))
    // Both ends of the range pass the range check (a cross-check may still refuse them with the defaults).
    for (const edge of [spec.min, spec.max]) {
      try {
        t.equal(load([`${flagName(key)}=${edge}`])[key], edge, `${key}=${edge} accepted`)
      } catch (err) {
        t.type(err, ConfigError)
        t.notMatch((err as Error).message, /must be an integer between/, `${key}=${edge} refused only by a cross-check: ${(err as Error).message}`)
      }
    }
  }
})

t.test('string options name their key and rule', async (t) => {
  const cases: [OptionKey, string, RegExp][] = [
    ['host', '', /^host: must be an IP address or hostname \(got "" from --host\)$/],
    ['host', '[::1]', /without brackets/],
    ['host', 'exa mple', /must be an IP address or hostname/],
    ['host', 'host:80', /must be an IP address or hostname/],
    ['websocketPath', 'xmpp', /^websocketPath: must be a URL path starting with "\/"/],
    ['websocketPath', '/a b', /URL path/],
    ['boshPath', '/http-bind?x=1', /^boshPath: must be a URL path/],
    ['boshPath', `/${'a'.repeat(300)}`, /at most 256/],
    ['nodeId', 'Node1', /^nodeId: must be empty or 1 to 16 characters from \[a-z0-9-\]/],
    ['nodeId', 'a'.repeat(17), /^nodeId: /],
    ['nodeId', 'a.b', /^nodeId: /],
    ['logLevel', 'verbose', /^logLevel: must be one of fatal, error, warn, info, debug, trace, silent \(got "verbose" from --log-level\)$/],
  ]
  for (const [key, value, message] of cases) {
    configError(t, () => load([`${flagName(key)}=${value}`]), key, message, `${key}=${JSON.stringify(value)}`)
  }
  configError(t, () => load(['--config', '/c.json'], {}, { '/c.json': '{"upstreamCaFile": ""}' }), 'upstreamCaFile', /^upstreamCaFile: must be a file path/)
  configError(t, () => load(['--config', '/c.json'], {}, { '/c.json': '{"host": 127}' }), 'host', /^host: must be a string/)
  t.equal(load(['--config', '/c.json'], {}, { '/c.json': '{"upstreamCaFile": null}' }).upstreamCaFile, undefined, 'null unsets upstreamCaFile')
})

t.test('upstream rules are validated with the rule named', async (t) => {
  configError(t, () => load(['--upstream', 'localhost:5222=tcp://127.0.0.1']), 'upstream', /^upstream: rule "localhost:5222=tcp:\/\/127\.0\.0\.1": domain "localhost:5222" has a port suffix.*\(from --upstream\)$/)
  configError(t, () => load([], { CAUSEWAY_UPSTREAM: 'a.example=http://x' }), 'upstream', /scheme "http" is not supported.*\(from CAUSEWAY_UPSTREAM\)$/)
  configError(t, () => load(['--upstream', '*=srv']), 'upstream', /any XMPP server/)
  configError(t, () => load(['--upstream', 'a.example=tcp://x', '--upstream', 'A.EXAMPLE.=tls://y']), 'upstream', 'upstream: duplicate rule for domain "a.example" (from --upstream)')
  configError(t, () => load([], { CAUSEWAY_UPSTREAM: 'a.example=tcp://x,,*=tcp://y' }), 'upstream', /must not have empty items/)
  configError(t, () => load(['--config', '/c.json'], {}, { '/c.json': '{"upstream": []}' }), 'upstream', /^upstream: must have at least 1 item \(got \[\] from config file \/c\.json\)$/)
  configError(t, () => load(['--config', '/c.json'], {}, { '/c.json': '{"upstream": "*=tcp://x"}' }), 'upstream', /must be a list of strings/)
  configError(t, () => load(['--config', '/c.json'], {}, { '/c.json': '{"upstream": [1]}' }), 'upstream', /must be a list of strings/)
  configError(t, () => load(['--upstream']), 'upstream', /--upstream needs a value/)
})

t.test('unknown flags, variables, keys and arguments are errors', async (t) => {
  configError(t, () => load(['--prot', '1']), '--prot', '--prot: unknown flag (did you mean --port?)')
  configError(t, () => load(['--max-stanza-byte=1']), '--max-stanza-byte', /did you mean --max-stanza-bytes\?/)
  configError(t, () => load(['--frobnicate']), '--frobnicate', '--frobnicate: unknown flag')
  configError(t, () => load(['--no-port']), '--no-port', /^--no-port: unknown flag/)
  configError(t, () => load(['-p', '1']), '-p', /^-p: unknown flag/)
  configError(t, () => load(['serve']), 'serve', /^serve: unexpected argument/)
  configError(t, () => load(['--', '--port']), '--port', /unexpected argument/)
  configError(t, () => load([], { CAUSEWAY_BOSH_MAX_WAIT: '5' }), 'CAUSEWAY_BOSH_MAX_WAIT', 'CAUSEWAY_BOSH_MAX_WAIT: unknown environment variable (did you mean CAUSEWAY_BOSH_MAX_WAIT_MS?)')
  configError(t, () => load(['--config', '/c.json'], {}, { '/c.json': '{"maxStanzaByte": 1}' }), 'maxStanzaByte', 'maxStanzaByte: unknown key in config file /c.json (did you mean maxStanzaBytes?)')
  configError(t, () => load(['--config', '/c.json'], {}, { '/c.json': '{"max_stanza_bytes": 1}' }), 'max_stanza_bytes', /unknown key/)
  configError(t, () => load(['--config', '/c.json'], {}, { '/c.json': '{"config": "/other.json"}' }), 'config', /unknown key/)
})

t.test('flag syntax errors', async (t) => {
  configError(t, () => load(['--port']), 'port', /^port: --port needs a value/)
  configError(t, () => load(['--port', '--host', 'x']), 'port', /--port needs a value \(write --port=VALUE/, 'a flag is not taken as a value')
  configError(t, () => load(['--port', '-1']), 'port', /--port needs a value/)
  configError(t, () => load(['--port=-1']), 'port', /got "-1"/)
  configError(t, () => load(['--config']), 'config', /--config needs a value/)
  t.equal(load(['--port', '1', '--port', '2']).port, 2, 'the last of a repeated single-value flag wins')
})

t.test('config file problems', async (t) => {
  configError(t, () => load(['--config', '/missing.json']), 'config', /^config: cannot read "\/missing.json" \(from --config\): ENOENT/)
  configError(t, () => load([], { CAUSEWAY_CONFIG: '/missing.json' }), 'config', /\(from CAUSEWAY_CONFIG\)/)
  configError(t, () => load(['--config', '/c.json'], {}, { '/c.json': '{port: 1}' }), 'config', /is not valid JSON/)
  configError(t, () => load(['--config', '/c.json'], {}, { '/c.json': '[]' }), 'config', /must hold a JSON object/)
  configError(t, () => load(['--config', '/c.json'], {}, { '/c.json': 'null' }), 'config', /must hold a JSON object/)
})

/** For each cross-check, overrides that break it (and only it). */
const CROSS_VIOLATIONS: Record<string, Partial<ConfigValues>> = {
  tlsKey: { tlsCert: '/etc/causeway/cert.pem' },
  boshMaxRequests: { boshMaxHold: 2, boshMaxRequests: 2 },
  maxStanzaBytes: { maxStanzaBytes: 400000 },
  maxAttributeValueBytes: { maxStanzaBytes: 20000, maxAttributeValueBytes: 30000 },
  wsPingIntervalMs: { wsPingIntervalMs: 500 },
  boshMaxPauseMs: { boshMaxPauseMs: 30000 },
  boshPollingMs: { boshPollingMs: 5000, boshInactivityMs: 5000 },
  maxSessionsPerIp: { maxSessions: 10, maxSessionsPerIp: 11 },
  boshPath: { boshPath: '/xmpp', websocketPath: '/xmpp' },
  allowedOrigin: { allowedOrigin: ['*', 'https://a.example'] },
  corsAllowCredentials: { corsAllowCredentials: true },
  adminTokenFile: { adminToken: 'a-token-of-at-least-24-characters', adminTokenFile: '/run/secrets/causeway', adminPort: 5290 },
  adminToken: { adminToken: 'a-token-of-at-least-24-characters' },
  publicMetrics: { publicMetrics: false },
  adminPort: { adminPort: 5280 },
  nodeId: { peers: ['n2=http://10.0.0.2:5280'], peerSecret: 'x'.repeat(32) },
  peers: { nodeId: 'n1', peers: ['n2=http://10.0.0.2:5280', 'n2=http://10.0.0.3:5280'], peerSecret: 'x'.repeat(32) },
  peerSecret: { nodeId: 'n1', peers: ['n2=http://10.0.0.2:5280'] },
  seeOtherUri: { seeOtherUri: 'http://new.example.org', publicUrl: 'https://chat.example.org' },
}

t.test('cross-field checks name the key, the rule and the other values', async (t) => {
  for (const check of CROSS_CHECKS) {
    const overrides = CROSS_VIOLATIONS[check.key]
    if (!overrides) {
      t.fail(`no violation case for cross-check on ${check.key}`)
      continue
    }
    configError(t, () => makeConfig(overrides), check.key, new RegExp(`^${check.key}: ${check.rule.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(got `), check.key)
  }
  configError(
    t,
    () => load(['--bosh-max-hold', '2'], { CAUSEWAY_BOSH_MAX_REQUESTS: '2' }),
    'boshMaxRequests',
    'boshMaxRequests: must be greater than boshMaxHold (got 2 from CAUSEWAY_BOSH_MAX_REQUESTS; boshMaxHold is 2 from --bosh-max-hold): XEP-0124 §11: with every allowed request held, the client must still be able to send one',
  )
  configError(t, () => load(['--max-stanza-bytes', '400000']), 'maxStanzaBytes', /^maxStanzaBytes: must be at most boshMaxBodyBytes \(got 400000 from --max-stanza-bytes; boshMaxBodyBytes is 300000 from default\)/)
  configError(t, () => load(['--ws-ping-interval-ms', '999']), 'wsPingIntervalMs', /must be 0 \(disabled\) or at least 1000/)
  t.equal(load(['--ws-ping-interval-ms', '0']).wsPingIntervalMs, 0, '0 disables pings')
  t.equal(load(['--ws-ping-interval-ms', '1000']).wsPingIntervalMs, 1000)
  t.equal(load(['--bosh-max-pause-ms', '0']).boshMaxPauseMs, 0, '0 disables pausing')
  t.equal(load(['--max-stanza-bytes', '400000', '--bosh-max-body-bytes', '400000']).maxStanzaBytes, 400000, 'raising both together is fine')
  const creds = load(['--cors-allow-credentials', '--allowed-origin', 'https://a.example'])
  t.equal(creds.corsAllowCredentials, true, 'credentials with an explicit origin list')
  configError(t, () => load(['--cors-allow-credentials', '--allowed-origin', '*']), 'corsAllowCredentials', /not empty, not "\*"/)
})

t.test('BOSH durations are whole seconds (XEP-0124 sends them in seconds)', async (t) => {
  configError(t, () => load(['--bosh-max-wait-ms', '1500']), 'boshMaxWaitMs', /^boshMaxWaitMs: must be an integer between 1000 and 600000 milliseconds, a multiple of 1000 \(got "1500" from --bosh-max-wait-ms\)$/)
  t.equal(load(['--bosh-max-wait-ms', '30000']).boshMaxWaitMs, 30000)
})

t.test('--help and --version', async (t) => {
  const help = parseCommandLine(sources(['--help'], { CAUSEWAY_PORT: 'not a number', CAUSEWAY_CONFIG: '/missing.json' }))
  t.equal(help.action, 'help', '--help skips the environment and the file')
  if (help.action === 'help') t.match(help.text, /^Usage: causeway/)
  t.equal(parseCommandLine(sources(['-h'])).action, 'help')
  t.equal(parseCommandLine(sources(['--port', 'abc', '--help'])).action, 'help', 'flag values are not checked for --help')
  t.equal(parseCommandLine(sources(['--port', '1', '--version'])).action, 'version')
  const run = parseCommandLine(sources(['--port', '1']))
  t.equal(run.action, 'run')
  if (run.action === 'run') t.equal(run.config.port, 1)
  configError(t, () => load(['--help']), 'help', /use parseCommandLine/)
  configError(t, () => load(['--version']), 'version', /use parseCommandLine/)
  configError(t, () => load(['--help=yes']), 'help', /takes no value/)
})

t.test('makeConfig: typed values, the same validation', async (t) => {
  const config = makeConfig({ port: 0, upstream: ['localhost=tcp://127.0.0.1:5222'], allowedOrigin: ['HTTPS://A.example'] })
  t.equal(config.port, 0)
  t.equal(config.upstream.describe(), 'localhost → tcp://127.0.0.1:5222')
  t.same(config.allowedOrigin, ['https://a.example'])
  t.equal(makeConfig({ upstreamCaFile: undefined }).upstreamCaFile, undefined)
  configError(t, () => makeConfig({ port: -1 }), 'port', /^port: must be an integer between 0 and 65535 \(got -1 from makeConfig\)$/)
  configError(t, () => makeConfig({ upstreamConnectTimeoutMs: 1 }), 'upstreamConnectTimeoutMs', 'upstreamConnectTimeoutMs: must be an integer between 100 and 300000 milliseconds (got 1 from makeConfig)')
  configError(t, () => makeConfig({ bogus: 1 } as unknown as Partial<ConfigValues>), 'bogus', /unknown option/)
})

t.test('a full config file', async (t) => {
  const file = {
    host: '0.0.0.0',
    port: 5281,
    websocketPath: '/ws',
    boshPath: '/bosh',
    publicUrl: 'https://chat.example.org/xmpp',
    upstream: ['example.org=starttls://xmpp.example.org', 'example.net=srv', '*=tls://[::1]'],
    upstreamCaFile: '/etc/ca.pem',
    upstreamConnectTimeoutMs: 5000,
    allowedOrigin: ['https://chat.example.org'],
    maxStanzaBytes: 100000,
    maxXmlDepth: 32,
    maxXmlAttributes: 32,
    maxAttributeValueBytes: 4096,
    wsPingIntervalMs: 20000,
    wsCloseTimeoutMs: 2000,
    writeBufferHighWaterBytes: 65536,
    drainTimeoutMs: 10000,
    shutdownDrainMs: 250,
    shutdownTimeoutMs: 0,
    logLevel: 'warn',
    boshMaxWaitMs: 30000,
    boshMaxHold: 2,
    boshMaxRequests: 3,
    boshInactivityMs: 30000,
    boshMaxPauseMs: 60000,
    boshPollingMs: 1000,
    boshCoalesceMs: 0,
    boshMaxBodyBytes: 200000,
    maxSessions: 100,
    maxSessionsPerIp: 10,
    preAuthTimeoutMs: 20000,
    corsMaxAgeSeconds: 600,
    openTimeoutMs: 15000,
    corsAllowCredentials: true,
    nodeId: 'n1',
    tlsCert: '/etc/causeway/fullchain.pem',
    tlsKey: '/etc/causeway/privkey.pem',
    trustedProxy: ['10.0.0.0/8', '::1'],
    forwardedHeader: 'forwarded',
    upstreamProxyProtocol: 'v2',
    demo: true,
    readyRequiresUpstream: true,
    upstreamProbeIntervalMs: 5000,
    adminHost: '::1',
    adminPort: 5290,
    adminToken: 'a-token-of-at-least-24-characters',
    adminTokenFile: null,
    publicMetrics: false,
    prebindMaxPerSecond: 5,
    logJid: true,
    logRepeatIntervalMs: 30000,
    peers: ['n2=http://10.0.0.12:5280'],
    peerSecret: 'a-secret-of-more-than-32-characters-for-the-test',
    shutdownHandoff: true,
    seeOtherUri: 'https://new.example.org',
  } satisfies Record<OptionKey, unknown>
  const config = load(['--config', '/c.json'], {}, { '/c.json': JSON.stringify(file) })
  for (const key of OPTION_KEYS) {
    if (key === 'upstream') continue
    t.same(config[key], file[key] ?? undefined, key)
  }
  t.equal(config.upstream.describe(), 'example.org → starttls://xmpp.example.org:5222, example.net → srv, * → tls://[::1]:5223')
})

t.test('TLS and proxy options', async (t) => {
  t.same(makeConfig({ trustedProxy: ['127.0.0.1', '10.1.0.0/16', 'fd00::/8'] }).trustedProxy, ['127.0.0.1', '10.1.0.0/16', 'fd00::/8'])
  t.same(load(['--trusted-proxy', '192.0.2.0/24', '--trusted-proxy', '::1'], {}).trustedProxy, ['192.0.2.0/24', '::1'])
  configError(t, () => makeConfig({ trustedProxy: ['10.0.0.0/33'] }), 'trustedProxy', /prefix length must be 0 to 32/)
  configError(t, () => makeConfig({ trustedProxy: ['proxy.example'] }), 'trustedProxy', /must be an IP address or a CIDR block/)
  configError(t, () => makeConfig({ trustedProxy: ['::1/129'] }), 'trustedProxy', /prefix length must be 0 to 128/)
  configError(t, () => makeConfig({ tlsCert: '/c.pem' }), 'tlsKey', /must be set together with tlsCert/)
  configError(t, () => makeConfig({ tlsKey: '/k.pem' }), 'tlsKey', /must be set together with tlsCert/)
  t.equal(makeConfig({ tlsCert: '/c.pem', tlsKey: '/k.pem' }).tlsKey, '/k.pem')
  t.equal(load(['--upstream-proxy-protocol', 'v1'], {}).upstreamProxyProtocol, 'v1')
  configError(t, () => load(['--upstream-proxy-protocol', 'v3'], {}), 'upstreamProxyProtocol', /off, v1, v2|one of/)
  t.equal(load([], { CAUSEWAY_FORWARDED_HEADER: 'forwarded' }).forwardedHeader, 'forwarded')
  t.equal(makeConfig({}).forwardedHeader, 'x-forwarded-for', 'X-Forwarded-For by default')
  t.equal(makeConfig({}).upstreamProxyProtocol, 'off')
  t.equal(makeConfig({}).demo, false)
})
