/**
 * `--help` text and the docs/configuration.md option tables, both generated
 * from the option table so neither can drift from the code.
 */
import {
  CONFIG_ENV,
  CONFIG_FLAG,
  CROSS_CHECKS,
  envName,
  flagName,
  OPTION_GROUPS,
  OPTION_KEYS,
  optionSpec,
} from './options.js'
import type { AnyOption, OptionKey } from './options.js'

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`
}

/** 30000 → `30 s`, 120000 → `2 min`, 5 → undefined (no shorter form). */
function humanMs(ms: number): string | undefined {
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000} h`
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000} s`
  return undefined
}

function humanBytes(bytes: number): string | undefined {
  if (bytes >= 1 << 20 && bytes % (1 << 20) === 0) return `${bytes / (1 << 20)} MiB`
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`
  return undefined
}

/** An integer with its unit and, when it reads better, a shorter form: `262144 bytes (256 KiB)`. */
function formatInteger(n: number, unit: 'ms' | 'bytes' | 'seconds' | 'count'): string {
  switch (unit) {
    case 'ms': {
      const short = humanMs(n)
      return short ? `${n} ms (${short})` : `${n} ms`
    }
    case 'bytes': {
      const short = humanBytes(n)
      return short ? `${n} bytes (${short})` : `${n} bytes`
    }
    case 'seconds': {
      const short = humanMs(n * 1000)
      return short && short !== `${n} s` ? `${n} s (${short})` : `${n} s`
    }
    case 'count':
      return String(n)
  }
}

/** The default as shown in help and docs. */
function formatDefault(spec: AnyOption): string {
  switch (spec.kind) {
    case 'integer':
      return formatInteger(spec.default, spec.unit)
    case 'boolean':
      return String(spec.default)
    case 'enum':
      return spec.default
    case 'string':
      return spec.default === '' ? '(empty)' : spec.default
    case 'optional-string':
      return '(unset)'
    case 'list':
      return spec.default.length === 0 ? '(empty)' : spec.default.join(', ')
  }
}

/** The accepted values in words: `0–65535`, `1000–600000 ms`, a list of levels. */
function formatAllowed(spec: AnyOption): string {
  switch (spec.kind) {
    case 'integer': {
      const unit = { ms: ' ms', bytes: ' bytes', seconds: ' s', count: '' }[spec.unit]
      const multiple = spec.multipleOf === undefined ? '' : `, multiple of ${spec.multipleOf}`
      return `integer ${spec.min}–${spec.max}${unit}${multiple}`
    }
    case 'boolean':
      return 'true or false'
    case 'enum':
      return spec.values.join(', ')
    case 'string':
    case 'optional-string':
      return spec.allowed
    case 'list':
      return `${spec.allowed} (repeatable)`
  }
}

function flagSyntax(key: OptionKey): string {
  const spec = optionSpec(key)
  const flag = flagName(key)
  switch (spec.kind) {
    case 'boolean':
      return `${flag}, --no-${flag.slice(2)}`
    case 'integer':
      return `${flag} <${spec.unit === 'count' ? 'n' : spec.unit}>`
    case 'enum':
      return `${flag} <${spec.values.join('|')}>`
    case 'list':
      return `${flag} ${spec.placeholder}…`
    case 'string':
    case 'optional-string':
      return `${flag} ${spec.placeholder}`
  }
}

function wrap(text: string, indent: string, width = 80): string {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/)) {
    if (line !== '' && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line)
      line = word
    } else {
      line = line === '' ? word : `${line} ${word}`
    }
  }
  if (line !== '') lines.push(indent + line)
  return lines.join('\n')
}

const UPSTREAM_SYNTAX = [
  'DOMAIN=URL, where DOMAIN is a domain clients name in "to", or * for every',
  'domain without its own rule (no * rule: unknown domains are refused), and URL is',
  '  tcp://host[:port]        plain TCP, STARTTLS when offered (port 5222)',
  '  starttls://host[:port]   STARTTLS required (port 5222)',
  '  tls://host[:port]        direct TLS, XEP-0368 (port 5223)',
  '  srv                      DNS SRV _xmpp-client._tcp / _xmpps-client._tcp of DOMAIN',
  '                           (not with *: that would relay to any server)',
  'IPv6 hosts go in brackets: tcp://[::1]:5222',
]

/** The `--help` text: every flag with its environment variable, default and purpose. */
export function usage(): string {
  const out: string[] = [
    'Usage: causeway [options]',
    '',
    'XMPP connection manager: BOSH (XEP-0124/0206) and WebSocket (RFC 7395) in front',
    'of an XMPP server.',
    '',
    wrap(
      'Each option comes from, lowest to highest precedence: its default, the JSON config file ' +
        '(camelCase key), its CAUSEWAY_* environment variable (lists comma-separated), its flag ' +
        '(lists: repeat the flag; booleans: --flag / --no-flag). Unknown flags, keys and ' +
        'CAUSEWAY_* variables are errors. Durations are in milliseconds, sizes in bytes.',
      '',
    ),
    '',
    'General:',
    `  ${CONFIG_FLAG} <path>    [${CONFIG_ENV}]`,
    '      JSON config file whose keys are the camelCase option names.',
    '  -h, --help',
    '      Print this help and exit.',
    '  --version',
    '      Print the version and exit.',
  ]
  for (const group of OPTION_GROUPS) {
    out.push('', `${group}:`)
    for (const key of OPTION_KEYS) {
      const spec = optionSpec(key)
      if (spec.group !== group) continue
      out.push(`  ${flagSyntax(key)}    [${envName(key)}]`)
      out.push(wrap(`${spec.description} Default: ${formatDefault(spec)}. Allowed: ${formatAllowed(spec)}.`, '      '))
    }
  }
  out.push('', 'Upstream rules (--upstream, repeatable):', ...UPSTREAM_SYNTAX.map((line) => `  ${line}`), '')
  return out.join('\n')
}

/** Escape Markdown specials outside `code spans`, so a lone `*` is not emphasis. */
function cell(text: string): string {
  return text
    .split('`')
    .map((part, i) => (i % 2 === 1 ? part.replace(/\|/g, '\\|') : part.replace(/[|*_[\]]/g, (c) => `\\${c}`)))
    .join('`')
}

function code(text: string): string {
  return `\`${text}\``
}

/**
 * The Markdown tables of docs/configuration.md, one per group: key, flag,
 * environment variable, default, allowed values, purpose.
 */
export function optionsMarkdown(): string {
  const out: string[] = []
  for (const group of OPTION_GROUPS) {
    const keys = OPTION_KEYS.filter((key) => optionSpec(key).group === group)
    if (keys.length === 0) continue
    out.push(`### ${group}`, '')
    out.push('| Key | Flag | Environment variable | Default | Allowed | What it does / protects |')
    out.push('| --- | --- | --- | --- | --- | --- |')
    for (const key of keys) {
      const spec = optionSpec(key)
      const flag = spec.kind === 'boolean' ? `${code(flagName(key))} / ${code(`--no-${flagName(key).slice(2)}`)}` : code(flagName(key))
      const row = [
        code(key),
        flag,
        code(envName(key)),
        cell(formatDefault(spec).startsWith('(') ? formatDefault(spec) : code(formatDefault(spec))),
        cell(formatAllowed(spec)),
        cell(spec.description),
      ]
      out.push(`| ${row.join(' | ')} |`)
    }
    out.push('')
  }
  return out.join('\n')
}

/** The cross-field rules as a Markdown list. */
export function crossChecksMarkdown(): string {
  return CROSS_CHECKS.map((check) => `- ${code(check.key)} ${cell(`${check.rule}: ${check.why}.`)}`).join('\n') + '\n'
}
