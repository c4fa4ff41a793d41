/**
 * The layering of src/, asserted. Each folder is a layer and may import
 * only from the layers listed for it, so no arrow runs up the tree:
 *
 *   core ← net ← edge ← transports ← server ← bin
 *   core ← system, observability ← upstream ← transports
 *   core ← net ← cluster (forwarding between nodes) ← transports
 *   config (reads every option's home) ← server
 *   admin (the admin API, prebind, SCRAM) ← server
 *
 * The protocol cores stay pure (only ltx, nothing with I/O, no clock but
 * the injected one), and no code in src/core, src/transports or
 * src/upstream calls a global timer: time comes from the Clock port.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SRC = join(ROOT, 'src')

type Layer = 'core' | 'net' | 'system' | 'observability' | 'edge' | 'upstream' | 'routes' | 'cluster' | 'transports' | 'admin' | 'config' | 'types' | 'server' | 'bin' | 'version'

/** Who may import whom (a layer may always import itself). */
const ALLOWED: Readonly<Record<Layer, readonly Layer[]>> = {
  version: [],
  types: [],
  core: [],
  net: ['core'],
  system: ['core'],
  observability: ['core'],
  edge: ['core', 'net'],
  upstream: ['core', 'net', 'observability'],
  routes: ['core', 'observability', 'version'],
  cluster: ['core', 'net'],
  transports: ['core', 'net', 'edge', 'observability', 'upstream', 'cluster'],
  admin: ['core', 'observability'],
  config: ['core', 'net', 'edge', 'upstream'],
  server: ['core', 'net', 'system', 'observability', 'edge', 'upstream', 'routes', 'cluster', 'transports', 'admin', 'config', 'version'],
  bin: ['config', 'observability', 'server', 'version'],
}

/** Packages the protocol cores may use: ltx (its public entry only). */
const CORE_PACKAGES = new Set(['ltx'])
const NO_GLOBAL_CLOCK: readonly Layer[] = ['core', 'transports', 'upstream']
const GLOBAL_TIMERS = [/\bsetTimeout\s*\(/, /\bsetInterval\s*\(/, /\bsetImmediate\s*\(/, /\bDate\.now\s*\(/, /\bperformance\.now\s*\(/]
const CORE_ONLY = [/\bMath\.random\s*\(/, /\bnew Date\b/, /\bprocess\./, /\brequire\(/]

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : []
  })
}

function layerOf(file: string): Layer {
  const rel = relative(SRC, file)
  if (rel === 'server.ts') return 'server'
  if (rel === 'version.ts') return 'version'
  const top = rel.split('/')[0] ?? ''
  if (top in ALLOWED) return top as Layer
  throw new Error(`${rel}: not in a known layer; add its folder to ALLOWED`)
}

function code(file: string): string {
  return readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/.*$/gm, '')
}

function imports(source: string): string[] {
  return [...source.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'/g), ...source.matchAll(/import\(\s*'([^']+)'\s*\)/g)].map((m) => m[1] ?? '')
}

const sources = files(SRC)

t.test('every import runs down the layer tree, never up', async (t) => {
  t.ok(sources.length > 40, `${sources.length} modules checked`)
  for (const file of sources) {
    const from = layerOf(file)
    for (const spec of imports(code(file))) {
      if (!spec.startsWith('.')) continue
      const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts')
      const to = layerOf(target)
      if (to === from) continue
      t.ok(ALLOWED[from].includes(to), `${relative(SRC, file)} (${from}) imports ${relative(SRC, target)} (${to})`)
    }
  }
})

t.test('the protocol cores import nothing but each other and ltx', async (t) => {
  const core = sources.filter((file) => layerOf(file) === 'core')
  t.ok(core.length > 20, `${core.length} core modules`)
  for (const file of core) {
    for (const spec of imports(code(file))) {
      if (spec.startsWith('.')) continue
      t.ok(CORE_PACKAGES.has(spec), `${relative(SRC, file)} must not import ${spec}`)
    }
    for (const rule of CORE_ONLY) t.notOk(rule.test(code(file)), `${relative(SRC, file)} must not use ${rule.source}`)
  }
})

t.test('no code in src/core, src/transports or src/upstream reads the global clock or starts a global timer', async (t) => {
  for (const file of sources.filter((f) => NO_GLOBAL_CLOCK.includes(layerOf(f)))) {
    // A method of that name on an object (the injected Clock, a socket) is not the global, nor is the Clock port's declaration.
    const stripped = code(file)
      .replace(/[\w$#)\]]\s*\.\s*setTimeout\s*\(/g, '')
      .replace(/\bsetTimeout\s*\(\s*\w+\s*:/g, '')
    for (const rule of GLOBAL_TIMERS) t.notOk(rule.test(stripped), `${relative(SRC, file)} must not call ${rule.source}`)
  }
})

t.test('only public package entry points are imported (no ltx/src/… deep imports)', async (t) => {
  const everywhere = [...sources, ...files(join(ROOT, 'test')), ...files(join(ROOT, 'bench'))]
  for (const file of everywhere) {
    for (const spec of imports(code(file))) {
      t.notOk(/^ltx\//.test(spec) || /^@xmpp\/xml\//.test(spec), `${relative(ROOT, file)} imports ${spec}`)
    }
  }
})

t.test('test doubles live in test/support, not in the shipped tree', async (t) => {
  for (const file of sources) {
    t.notMatch(code(file), /class (ManualClock|SequentialIds|BoshCounters)\b/, `${relative(SRC, file)} defines no test double`)
  }
})
