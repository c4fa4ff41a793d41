/**
 * Build the one `Config` from its sources, validated once.
 *
 * Precedence, lowest to highest: defaults < config file (`--config PATH` or
 * CAUSEWAY_CONFIG; JSON, camelCase keys) < environment (CAUSEWAY_UPPER_SNAKE;
 * lists comma-separated) < command-line flags (`--kebab-case VALUE`,
 * `--kebab-case=VALUE`, lists by repeating the flag, booleans `--flag` /
 * `--no-flag`). A list from a higher source replaces the lower one's whole list.
 *
 * Unknown flags, unknown CAUSEWAY_* variables and unknown file keys are
 * errors, so a typo never silently leaves a limit at its default.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { parseUpstream, RoutingError, RoutingTable } from '../upstream/routing.js'
import { ConfigError } from './config-error.js'
import {
  CONFIG_ENV,
  CONFIG_FLAG,
  CROSS_CHECKS,
  envName,
  flagName,
  integerBound,
  OPTION_KEYS,
  optionSpec,
} from './options.js'
import type { AnyOption, Config, ConfigValues, IntegerOption, OptionKey } from './options.js'
import { usage } from './usage.js'

export interface ConfigSources {
  /** Command-line arguments without node and the script: `process.argv.slice(2)`. */
  readonly argv: readonly string[]
  /** Usually `process.env`. Only CAUSEWAY_* names are read; an empty value counts as unset. */
  readonly env: Readonly<Record<string, string | undefined>>
  /** Reads the config file; defaults to `fs.readFileSync(path, 'utf8')`. */
  readonly readFile?: (path: string) => string
}

/** What the command line asks for: run with a config, or print help or the version and exit 0. */
export type CommandLine =
  | { readonly action: 'run'; readonly config: Config }
  | { readonly action: 'help'; readonly text: string }
  | { readonly action: 'version' }

/** A value from one source, already converted to its type and checked. */
interface Setting {
  readonly value: unknown
  /** `--port`, `CAUSEWAY_PORT`, `config file /etc/causeway.json`, `default`. */
  readonly source: string
}

type Layer = Map<OptionKey, Setting>

const HELP_FLAGS = ['help', 'version'] as const

// ─── values ──────────────────────────────────────────────────────────────

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value)
}

/** How a secret option's value appears in messages: its length only. */
function hideSecret(value: unknown): unknown {
  return typeof value === 'string' ? `(hidden, ${[...value].length} characters)` : value
}

/** A value for a message: secrets hidden. */
function showValue(key: OptionKey, value: unknown): string {
  return optionSpec(key).secret ? (value === undefined ? 'unset' : String(hideSecret(value))) : show(value)
}

/** `key: bound (got raw from source)`; `quoted` when the bound already shows the value (an upstream rule). */
function fail(key: string, bound: string, raw: unknown, source: string, quoted = false): never {
  const got = quoted ? `from ${source}` : `got ${show(raw)} from ${source}`
  throw new ConfigError(key, `${key}: ${bound} (${got})`, source)
}

function isInteger(n: number, spec: IntegerOption): boolean {
  return Number.isSafeInteger(n) && n >= spec.min && n <= spec.max && (spec.multipleOf === undefined || n % spec.multipleOf === 0)
}

/**
 * Convert one raw value to the option's type and check it. `raw` is text
 * (`form: 'text'`: a flag or environment string, or a list of them for a
 * repeated flag or split variable) or typed (`form: 'typed'`: a JSON value
 * from the config file or a `makeConfig` value, which must already have the
 * option's type: `"5280"` is not a port there).
 */
function convert(key: OptionKey, spec: AnyOption, given: unknown, source: string, form: 'text' | 'typed'): unknown {
  const text = form === 'text'
  // A secret is checked like any value, but a message about it never shows it.
  const raw = spec.secret ? hideSecret(given) : given
  if (spec.secret && (spec.kind === 'optional-string' || spec.kind === 'string') && typeof given === 'string') {
    const result = spec.check(given)
    if ('problem' in result) fail(key, result.problem, raw, source)
    return result.value
  }
  switch (spec.kind) {
    case 'integer': {
      let n = NaN
      if (!text && typeof raw === 'number') n = raw
      if (text && typeof raw === 'string' && /^-?[0-9]+$/.test(raw.trim())) n = Number(raw)
      if (!isInteger(n, spec)) fail(key, integerBound(spec), raw, source)
      return n
    }
    case 'boolean': {
      if (typeof raw === 'boolean' && !text) return raw
      if (typeof raw === 'string' && text) {
        const word = raw.trim().toLowerCase()
        if (word === 'true' || word === '1' || word === 'yes') return true
        if (word === 'false' || word === '0' || word === 'no') return false
      }
      return fail(key, 'must be true or false', raw, source)
    }
    case 'enum': {
      const word = typeof raw === 'string' ? raw.trim().toLowerCase() : undefined
      if (word === undefined || !spec.values.includes(word)) fail(key, `must be one of ${spec.values.join(', ')}`, raw, source)
      return word
    }
    case 'string':
    case 'optional-string': {
      if (spec.kind === 'optional-string' && raw === null) return undefined
      if (typeof raw !== 'string') return fail(key, `must be a string: ${spec.allowed}`, raw, source)
      const result = spec.check(raw)
      if ('problem' in result) fail(key, result.problem, raw, source, result.quotesValue)
      return result.value
    }
    case 'list': {
      if (!Array.isArray(raw) || !raw.every((item): item is string => typeof item === 'string')) {
        return fail(key, 'must be a list of strings', raw, source)
      }
      if (raw.length < spec.minItems) fail(key, `must have at least ${spec.minItems} item${spec.minItems === 1 ? '' : 's'}`, raw, source)
      const items: string[] = []
      for (const item of raw) {
        if (item.trim() === '') fail(key, 'must not have empty items', raw, source)
        const result = spec.check(item.trim())
        if ('problem' in result) fail(key, result.problem, item, source, result.quotesValue)
        if (!items.includes(result.value)) items.push(result.value)
      }
      return items
    }
  }
}

// ─── suggestions ─────────────────────────────────────────────────────────

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost))
    }
    prev = row
  }
  return prev[b.length] ?? 0
}

function didYouMean(name: string, known: readonly string[]): string {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of known) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 4)) ? ` (did you mean ${best}?)` : ''
}

// ─── sources ─────────────────────────────────────────────────────────────

const FLAG_TO_KEY = new Map<string, OptionKey>(OPTION_KEYS.map((key) => [flagName(key).slice(2), key]))
const ENV_TO_KEY = new Map<string, OptionKey>(OPTION_KEYS.map((key) => [envName(key), key]))

interface Flags {
  readonly help: boolean
  readonly version: boolean
  readonly configPath: string | undefined
  readonly layer: Layer
}

function readFlags(argv: readonly string[]): Flags {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
  }
  for (const [flag, key] of FLAG_TO_KEY) {
    const spec = optionSpec(key)
    if (spec.kind === 'boolean') options[flag] = { type: 'boolean' }
    else options[flag] = spec.kind === 'list' ? { type: 'string', multiple: true } : { type: 'string' }
  }
  // strict: false so that every mistake gets our own message naming the flag.
  const { tokens } = parseArgs({
    args: [...argv],
    options,
    strict: false,
    allowPositionals: true,
    allowNegative: true,
    tokens: true,
  })
  const knownFlags = [CONFIG_FLAG, '--help', '--version', ...OPTION_KEYS.map(flagName)]
  let help = false
  let version = false
  let configPath: string | undefined
  const lists = new Map<OptionKey, string[]>()
  const layer: Layer = new Map()
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue
    if (token.kind === 'positional') {
      throw new ConfigError(token.value, `${token.value}: unexpected argument (every option is a --flag; see --help)`)
    }
    const { name, rawName } = token
    const negated = rawName.startsWith('--no-')
    const key = FLAG_TO_KEY.get(name)
    const isBoolean = (HELP_FLAGS as readonly string[]).includes(name) || (key !== undefined && optionSpec(key).kind === 'boolean')
    const known = (name === 'config' || isBoolean || key !== undefined) && !(negated && !isBoolean)
    if (!known || (rawName.startsWith('-') && !rawName.startsWith('--') && name !== 'help')) {
      throw new ConfigError(rawName, `${rawName}: unknown flag${didYouMean(rawName, knownFlags)}`, rawName)
    }
    const label = key ?? name
    if (isBoolean) {
      if (token.value !== undefined) {
        throw new ConfigError(label, `${label}: ${rawName} takes no value (use --${name} or --no-${name})`, rawName)
      }
      if (name === 'help') help = !negated
      else if (name === 'version') version = !negated
      else if (key !== undefined) layer.set(key, { value: negated ? 'false' : 'true', source: rawName })
      continue
    }
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith('-'))) {
      throw new ConfigError(label, `${label}: ${rawName} needs a value (write ${rawName}=VALUE for a value starting with "-")`, rawName)
    }
    if (key === undefined) {
      configPath = token.value
      continue
    }
    if (optionSpec(key).kind === 'list') {
      const list = lists.get(key) ?? []
      list.push(token.value)
      lists.set(key, list)
      layer.set(key, { value: list, source: rawName })
    } else {
      layer.set(key, { value: token.value, source: rawName })
    }
  }
  if (!help && !version) {
    for (const [key, { value, source }] of layer) {
      layer.set(key, { value: convert(key, optionSpec(key), value, source, 'text'), source })
    }
  }
  return { help, version, configPath, layer }
}

function readEnv(env: Readonly<Record<string, string | undefined>>): Layer {
  const layer: Layer = new Map()
  const known = [CONFIG_ENV, ...ENV_TO_KEY.keys()]
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('CAUSEWAY_') || name === CONFIG_ENV) continue
    const key = ENV_TO_KEY.get(name)
    if (key === undefined) {
      throw new ConfigError(name, `${name}: unknown environment variable${didYouMean(name, known)}`, name)
    }
    if (raw === undefined || raw === '') continue
    const spec = optionSpec(key)
    const value = spec.kind === 'list' ? raw.split(',') : raw
    layer.set(key, { value: convert(key, spec, value, name, 'text'), source: name })
  }
  return layer
}

function readConfigFile(path: string, pathSource: string, readFile: (path: string) => string): Layer {
  const source = `config file ${path}`
  let text: string
  try {
    text = readFile(path)
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err)
    throw new ConfigError('config', `config: cannot read ${show(path)} (from ${pathSource}): ${why}`, pathSource)
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err)
    throw new ConfigError('config', `config: ${show(path)} is not valid JSON: ${why}`, source)
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ConfigError('config', `config: ${show(path)} must hold a JSON object with camelCase option keys`, source)
  }
  const layer: Layer = new Map()
  for (const [name, raw] of Object.entries(data)) {
    const key = OPTION_KEYS.find((k) => k === name)
    if (key === undefined) {
      throw new ConfigError(name, `${name}: unknown key in ${source}${didYouMean(name, OPTION_KEYS)}`, source)
    }
    layer.set(key, { value: convert(key, optionSpec(key), raw, source, 'typed'), source })
  }
  return layer
}

// ─── assembly ────────────────────────────────────────────────────────────

/**
 * Check already-typed values (per option, then across options) and build the
 * frozen `Config`. `sources` says where each value came from, for messages.
 */
function finish(values: ConfigValues, sources: ReadonlyMap<OptionKey, string>): Config {
  for (const check of CROSS_CHECKS) {
    if (check.holds(values)) continue
    const source = sources.get(check.key) ?? 'default'
    const others = check.others.map((other) => `; ${other} is ${showValue(other, values[other])} from ${sources.get(other) ?? 'default'}`).join('')
    throw new ConfigError(check.key, `${check.key}: ${check.rule} (got ${showValue(check.key, values[check.key])} from ${source}${others}): ${check.why}`, source)
  }
  let upstream: RoutingTable
  try {
    upstream = new RoutingTable(values.upstream.map(parseUpstream))
  } catch (err) {
    if (!(err instanceof RoutingError)) throw err
    const source = sources.get('upstream') ?? 'default'
    throw new ConfigError('upstream', `upstream: ${err.message} (from ${source})`, source)
  }
  return Object.freeze({ ...values, upstream })
}

function merge(layers: readonly Layer[]): { values: ConfigValues; sources: Map<OptionKey, string> } {
  const values: Record<string, unknown> = {}
  const sources = new Map<OptionKey, string>()
  for (const key of OPTION_KEYS) values[key] = optionSpec(key).default
  for (const layer of layers) {
    for (const [key, setting] of layer) {
      values[key] = setting.value
      sources.set(key, setting.source)
    }
  }
  return { values: values as unknown as ConfigValues, sources }
}

/**
 * Read argv, environment and config file. `--help` and `--version` win over
 * everything else and skip reading the environment and the file.
 * @throws ConfigError naming the key and its bound.
 */
export function parseCommandLine(sources: ConfigSources): CommandLine {
  const flags = readFlags(sources.argv)
  if (flags.help) return { action: 'help', text: usage() }
  if (flags.version) return { action: 'version' }
  const envLayer = readEnv(sources.env)
  const envConfig = sources.env[CONFIG_ENV]
  const configPath = flags.configPath ?? (envConfig === '' ? undefined : envConfig)
  const layers: Layer[] = []
  if (configPath !== undefined) {
    const pathSource = flags.configPath !== undefined ? CONFIG_FLAG : CONFIG_ENV
    layers.push(readConfigFile(configPath, pathSource, sources.readFile ?? ((path) => readFileSync(path, 'utf8'))))
  }
  layers.push(envLayer, flags.layer)
  const { values, sources: where } = merge(layers)
  return { action: 'run', config: finish(values, where) }
}

/**
 * `parseCommandLine` for callers that only want a config.
 * @throws ConfigError for `--help`/`--version` too (key `help`/`version`): handle those with `parseCommandLine`.
 */
export function loadConfig(sources: ConfigSources): Config {
  const result = parseCommandLine(sources)
  if (result.action !== 'run') {
    throw new ConfigError(result.action, `${result.action}: --${result.action} asks to print and exit; use parseCommandLine()`)
  }
  return result.config
}

/**
 * A config from typed values, checked exactly like one loaded from the
 * outside; for tests and embedding. `makeConfig({ port: 0 })`.
 * @throws ConfigError
 */
export function makeConfig(overrides: Partial<ConfigValues> = {}): Config {
  const layer: Layer = new Map()
  for (const [name, value] of Object.entries(overrides)) {
    const key = OPTION_KEYS.find((k) => k === name)
    if (key === undefined) throw new ConfigError(name, `${name}: unknown option`)
    if (value === undefined && optionSpec(key).kind !== 'optional-string') continue
    layer.set(key, { value: value === undefined ? undefined : convert(key, optionSpec(key), value, 'makeConfig', 'typed'), source: 'makeConfig' })
  }
  const { values, sources } = merge([layer])
  return finish(values, sources)
}

/** Every default, checked and with `upstream` parsed. */
export const DEFAULT_CONFIG: Config = makeConfig()
