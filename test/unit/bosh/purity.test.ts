import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

// Style habit 1 & 3: the BOSH core is socket-free, timer-free and crypto-free;
// time, ids and hashing come in through injected interfaces.
const dir = fileURLToPath(new URL('../../../src/core/bosh/', import.meta.url))
const files = readdirSync(dir).filter((name) => name.endsWith('.ts'))

t.test('the BOSH core imports only relative modules and ltx', async (t) => {
  t.ok(files.length >= 8)
  for (const name of files) {
    const source = readFileSync(dir + name, 'utf8')
    const specifiers = [...source.matchAll(/^\s*import\s[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1] ?? '')
    for (const spec of specifiers) t.ok(spec.startsWith('./') || (spec.startsWith('../') && !spec.startsWith('../../')) || spec === 'ltx', `${name}: ${spec}`)
  }
})

t.test('the BOSH core uses no global timers, wall clock or randomness', async (t) => {
  for (const name of files) {
    const code = readFileSync(dir + name, 'utf8')
      .replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '') // comments
      .replace(/#clock\.setTimeout\(/g, '') // the injected Clock is the one allowed timer
    for (const banned of [/\bsetTimeout\s*\(/, /\bsetInterval\s*\(/, /\bsetImmediate\s*\(/, /\bDate\.now\b/, /\bnew Date\b/, /\bMath\.random\b/, /\bprocess\./, /\brequire\(/]) {
      t.notOk(banned.test(code), `${name}: ${banned}`)
    }
  }
})
