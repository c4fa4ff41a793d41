/**
 * V8 heap settings for a process that mostly holds idle sessions.
 *
 * Imported first by the `causeway` command, before anything allocates much.
 * V8's defaults are tuned for a browser tab: old-space garbage from a burst
 * of logins, and the young generation grown for that burst (up to 2 × 16 MiB),
 * stay resident until the heap next fills, 30+ kB per session at 1,000
 * sessions. With `optimize_for_size`, V8 grows the old generation in smaller
 * steps and its memory reducer collects once the process has been quiet for
 * a few seconds, shrinking the young generation back too.
 *
 * The young generation is still allowed to grow under load: keeping it at
 * its initial 1 MiB (`--semi-space-growth-factor=1`) saved about 1 kB more
 * per idle session but doubled the time spent in garbage collection while
 * relaying (docs/performance.md has the measurements).
 *
 * V8 reads the flag at run time, so it can be set here. Whatever an
 * operator passes to node wins (`--no-optimize-for-size`, also in
 * NODE_OPTIONS).
 */
import v8 from 'node:v8'

const nodeFlags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].map((flag) => flag.replaceAll('_', '-'))
const given = (...names: string[]) => nodeFlags.some((flag) => names.some((name) => flag === name || flag.startsWith(`${name}=`)))

if (!given('--optimize-for-size', '--no-optimize-for-size')) v8.setFlagsFromString('--optimize-for-size')
