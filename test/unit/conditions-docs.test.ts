/**
 * docs/conditions.md is read from the code: the session-end and upstream
 * cause tables are generated from their typed vocabularies and compared
 * byte for byte, and every condition, reason and cause the code knows must
 * appear on the page. `UPDATE_CONDITIONS_DOCS=1 npx tap
 * test/unit/conditions-docs.test.ts` rewrites the generated sections.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import t from 'tap'
import { REFUSAL_REASONS } from '../../src/core/bosh/metrics.js'
import { BOSH_CONDITIONS, STREAM_CONDITIONS } from '../../src/core/conditions.js'
import { END_REASONS } from '../../src/core/session-end.js'
import type { Transport } from '../../src/core/session-end.js'
import { UPSTREAM_FAILURE_CAUSES } from '../../src/core/xmpp/upstream-port.js'
import { EDGE_REFUSALS } from '../../src/edge/refusals.js'

const DOC = new URL('../../docs/conditions.md', import.meta.url)
const TRANSPORT_NAMES: Readonly<Record<Transport, string>> = { websocket: 'WebSocket', bosh: 'BOSH' }

function sessionEnds(): string {
  const rows = Object.entries(END_REASONS).map(
    ([reason, spec]) => `| \`${reason}\` | ${spec.transports.map((x) => TRANSPORT_NAMES[x]).join(', ')} | ${spec.what} | ${spec.condition} |`,
  )
  return ['| Reason | Transports | When | Condition |', '| --- | --- | --- | --- |', ...rows].join('\n') + '\n'
}

function upstreamCauses(): string {
  const rows = Object.entries(UPSTREAM_FAILURE_CAUSES).map(([cause, meaning]) => `| \`${cause}\` | ${meaning} |`)
  return ['| Cause | Meaning |', '| --- | --- |', ...rows].join('\n') + '\n'
}

const SECTIONS = [
  { name: 'SESSION ENDS', body: sessionEnds },
  { name: 'UPSTREAM CAUSES', body: upstreamCauses },
]

function splice(doc: string, name: string, body: string): { current: string; updated: string } {
  const open = new RegExp(`<!-- BEGIN GENERATED ${name}[^>]*-->\\n`).exec(doc)
  if (!open) throw new Error(`docs/conditions.md lost its BEGIN GENERATED ${name} marker`)
  const from = open.index + open[0].length
  const end = `<!-- END GENERATED ${name} -->`
  const to = doc.indexOf(end, from)
  if (to < 0) throw new Error(`docs/conditions.md lost its ${end} marker`)
  return { current: doc.slice(from, to), updated: doc.slice(0, from) + body + doc.slice(to) }
}

let doc = readFileSync(DOC, 'utf8')
if (process.env['UPDATE_CONDITIONS_DOCS'] === '1') {
  for (const section of SECTIONS) doc = splice(doc, section.name, section.body()).updated
  writeFileSync(DOC, doc)
}

t.test('the generated tables of docs/conditions.md match the typed vocabularies', async (t) => {
  for (const section of SECTIONS) {
    t.equal(splice(doc, section.name, section.body()).current, section.body(), `${section.name} is current (UPDATE_CONDITIONS_DOCS=1 rewrites it)`)
  }
})

t.test('every condition, end reason, refusal reason and upstream cause is named on the page', async (t) => {
  const named = (word: string) => doc.includes(`\`${word}\``)
  for (const condition of new Set([...STREAM_CONDITIONS, ...BOSH_CONDITIONS])) t.ok(named(condition), `condition ${condition}`)
  for (const reason of Object.keys(END_REASONS)) t.ok(named(reason), `end reason ${reason}`)
  for (const reason of [...REFUSAL_REASONS, ...Object.keys(EDGE_REFUSALS)]) t.ok(named(reason), `refusal ${reason}`)
  for (const cause of Object.keys(UPSTREAM_FAILURE_CAUSES)) t.ok(named(cause), `upstream cause ${cause}`)
})
