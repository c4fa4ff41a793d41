/**
 * A short flame summary of a V8 .cpuprofile (what `node --cpu-prof` writes
 * on exit): self time per function, summed over every node of the call tree
 * with the same function, file and line, and per package. Positions in a
 * build (dist/…js) are mapped back to src/…ts through the build's source maps.
 */
import { readFileSync } from 'node:fs'
import { SourceMap } from 'node:module'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { markdownTable } from './report.js'

interface CallFrame {
  readonly functionName: string
  readonly url: string
  /** 0-based. */
  readonly lineNumber: number
  readonly columnNumber: number
}

interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[]
  readonly startTime: number
  readonly endTime: number
  readonly samples?: readonly number[]
  /** µs before each sample. */
  readonly timeDeltas?: readonly number[]
}

export interface FunctionCost {
  readonly name: string
  /** file:line (1-based), relative to the repository where possible. */
  readonly where: string
  readonly package: string
  readonly selfMs: number
}

export interface ProfileSummary {
  readonly file: string
  /** Wall time covered by the profile. */
  readonly totalMs: number
  /** Sampled time not idle. */
  readonly busyMs: number
  readonly functions: FunctionCost[]
  readonly packages: Array<{ readonly package: string; readonly selfMs: number }>
}

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const maps = new Map<string, SourceMap | undefined>()

function sourceMapFor(path: string): SourceMap | undefined {
  if (!maps.has(path)) {
    try {
      maps.set(path, new SourceMap(JSON.parse(readFileSync(`${path}.map`, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]))
    } catch {
      maps.set(path, undefined)
    }
  }
  return maps.get(path)
}

function locate(frame: CallFrame): { where: string; package: string } {
  const { url } = frame
  if (url === '') return { where: frame.functionName.startsWith('(') ? '' : '(native)', package: frame.functionName.startsWith('(') ? frame.functionName : '(native code)' }
  if (url.startsWith('node:')) return { where: `${url}:${frame.lineNumber + 1}`, package: 'node: (Node.js internals)' }
  let path = url.startsWith('file://') ? fileURLToPath(url) : url
  let line = frame.lineNumber + 1
  if (path.startsWith(`${ROOT}dist/`)) {
    const entry = sourceMapFor(path)?.findEntry(frame.lineNumber, frame.columnNumber) as
      | { originalSource?: string; originalLine?: number }
      | undefined
    if (entry?.originalSource !== undefined && entry.originalLine !== undefined) {
      const source = entry.originalSource
      path = source.startsWith('file://') ? fileURLToPath(source) : resolve(dirname(path), source)
      line = entry.originalLine + 1
    }
  }
  const relative = path.startsWith(ROOT) ? path.slice(ROOT.length) : path
  const modules = relative.lastIndexOf('node_modules/')
  let pkg: string
  if (modules >= 0) {
    const parts = relative.slice(modules + 'node_modules/'.length).split('/')
    pkg = parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!
  } else if (/(^|\/)src\//.test(relative) || relative.startsWith('dist/')) {
    pkg = 'causeway'
  } else {
    pkg = relative
  }
  return { where: `${modules >= 0 ? relative.slice(modules + 'node_modules/'.length) : relative}:${line}`, package: pkg }
}

export function summariseProfile(file: string): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  // A sample stands for the time until the next one; the last gets the mean interval.
  const meanDelta = deltas.length > 1 ? deltas.slice(1).reduce((a, b) => a + b, 0) / (deltas.length - 1) : 0
  const selfUs = new Map<number, number>()
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i]!
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, deltas[i + 1] ?? meanDelta))
  }
  const functions = new Map<string, { name: string; where: string; package: string; us: number }>()
  const packages = new Map<string, number>()
  let busyUs = 0
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame
    if (!frame || frame.functionName === '(idle)') continue
    busyUs += us
    const { where, package: pkg } = locate(frame)
    const name = frame.functionName || '(anonymous)'
    const key = `${name}\0${where}`
    const entry = functions.get(key) ?? { name, where, package: pkg, us: 0 }
    entry.us += us
    functions.set(key, entry)
    packages.set(pkg, (packages.get(pkg) ?? 0) + us)
  }
  return {
    file,
    totalMs: (profile.endTime - profile.startTime) / 1000,
    busyMs: busyUs / 1000,
    functions: [...functions.values()].sort((a, b) => b.us - a.us).map((f) => ({ name: f.name, where: f.where, package: f.package, selfMs: f.us / 1000 })),
    packages: [...packages.entries()].sort((a, b) => b[1] - a[1]).map(([pkg, us]) => ({ package: pkg, selfMs: us / 1000 })),
  }
}

export function formatProfile(title: string, summary: ProfileSummary, top = 20): string {
  const pct = (msec: number) => (summary.busyMs > 0 ? `${((msec / summary.busyMs) * 100).toFixed(1)} %` : '–')
  return [
    `### ${title}: top ${top} functions by self time`,
    '',
    `${summary.file}: ${(summary.busyMs / 1000).toFixed(2)} s busy of ${(summary.totalMs / 1000).toFixed(1)} s profiled (idle left out; % of busy).`,
    '',
    markdownTable(
      ['#', 'function', 'where', 'self ms', 'self %'],
      summary.functions.slice(0, top).map((f, i) => [String(i + 1), f.name, f.where, f.selfMs.toFixed(0), pct(f.selfMs)]),
    ),
    '',
    'Self time by package:',
    '',
    markdownTable(
      ['package', 'self ms', 'self %'],
      summary.packages.slice(0, 12).map((p) => [p.package, p.selfMs.toFixed(0), pct(p.selfMs)]),
    ),
  ].join('\n')
}
