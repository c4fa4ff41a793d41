/**
 * V8 heap settings for a process that mostly holds idle sessions.
 *
 * Imported first by the `causeway` command, before anything allocates much.
 * Two of V8's defaults are tuned for a browser tab and cost a connection
 * manager a lot of resident memory (measured in docs/performance.md):
 *
 * - The young generation grows to 2 × 16 MiB after a burst of logins and
 *   stays there: 32 KiB per session at 1,000 sessions. Relay garbage is
 *   short-lived, so a young generation that stays at its initial 1 MiB
 *   semi-spaces costs a few more scavenges and no measurable CPU.
 * - Old-space garbage from the burst stays resident until the heap next
 *   fills: with `optimize_for_size` V8 grows the old generation in smaller
 *   steps and its memory reducer collects once the process goes quiet.
 *
 * Both are read by V8 at run time, so they can be set here. Whatever an
 * operator passes to node wins: `--max-semi-space-size` (also allowed in
 * NODE_OPTIONS) or `--semi-space-growth-factor` leaves the young generation
 * alone, `--no-optimize-for-size` the old one.
 */
import v8 from 'node:v8'

const nodeFlags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].map((flag) => flag.replaceAll('_', '-'))
const given = (...names: string[]) => nodeFlags.some((flag) => names.some((name) => flag === name || flag.startsWith(`${name}=`)))

if (!given('--max-semi-space-size', '--semi-space-growth-factor')) v8.setFlagsFromString('--semi-space-growth-factor=1')
if (!given('--optimize-for-size', '--no-optimize-for-size')) v8.setFlagsFromString('--optimize-for-size')
