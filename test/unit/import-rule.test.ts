/**
 * The protocol cores stay pure: no sockets, no HTTP framework, no logger,
 * no crypto, no global timers. Time and ids come in through ports.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const CORE = fileURLToPath(new URL('../../src/core', import.meta.url))

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : []
  })
}

const FORBIDDEN_IMPORTS = [/^node:(net|tls|dns|crypto|http|https|fs|child_process|timers)/, /^(net|tls|dns|crypto|http|https|fs)$/, /^fastify/, /^@fastify\//, /^pino/, /^ws$/, /^prom-client/, /\/(upstream|transports|observability|system|http|config)\//]
const FORBIDDEN_CALLS = [/\bsetTimeout\s*\(/, /\bsetInterval\s*\(/, /\bsetImmediate\s*\(/, /\bDate\.now\s*\(/, /\bperformance\.now\s*\(/, /\bMath\.random\s*\(/]

t.test('src/core imports no I/O, framework, logger or crypto, and reads no global clock', (t) => {
  const sources = files(CORE)
  t.ok(sources.length > 10, `${sources.length} core modules checked`)
  for (const file of sources) {
    const name = relative(CORE, file)
    const text = readFileSync(file, 'utf8')
    const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '')
    const imports = [...code.matchAll(/from\s+'([^']+)'/g)].map((m) => m[1] ?? '')
    for (const spec of imports) {
      t.notOk(FORBIDDEN_IMPORTS.some((rule) => rule.test(spec)), `${name} must not import ${spec}`, { skip: false })
    }
    // clock.ts defines the Clock port itself (a `setTimeout` method); calls through a clock are fine.
    if (name === 'clock.ts') continue
    const stripped = code.replace(/[\w$#]+\.setTimeout\(/g, '')
    for (const rule of FORBIDDEN_CALLS) {
      t.notOk(rule.test(stripped), `${name} must not call ${rule.source}`)
    }
  }
  t.end()
})
