/**
 * docs/configuration.md must match the option table: the generated sections
 * are compared byte for byte, and every key, flag and environment variable
 * must appear. `UPDATE_CONFIG_DOCS=1 npx tap test/unit/config-docs.test.ts`
 * rewrites the generated sections.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import t from 'tap'
import { crossChecksMarkdown, envName, flagName, OPTION_KEYS, optionsMarkdown, usage } from '../../src/config/index.js'

const DOC = new URL('../../docs/configuration.md', import.meta.url)

const SECTIONS = [
  { begin: /<!-- BEGIN GENERATED OPTIONS[^>]*-->\n/, end: '<!-- END GENERATED OPTIONS -->', body: optionsMarkdown },
  { begin: /<!-- BEGIN GENERATED CROSS-CHECKS[^>]*-->\n/, end: '<!-- END GENERATED CROSS-CHECKS -->', body: crossChecksMarkdown },
]

function splice(doc: string, begin: RegExp, end: string, body: string): { current: string; updated: string } {
  const open = begin.exec(doc)
  if (!open) throw new Error(`docs/configuration.md lost its marker ${begin}`)
  const from = open.index + open[0].length
  const to = doc.indexOf(end, from)
  if (to < 0) throw new Error(`docs/configuration.md lost its marker ${end}`)
  return { current: doc.slice(from, to), updated: doc.slice(0, from) + body + doc.slice(to) }
}

let doc = readFileSync(DOC, 'utf8')
if (process.env['UPDATE_CONFIG_DOCS'] === '1') {
  for (const section of SECTIONS) doc = splice(doc, section.begin, section.end, section.body()).updated
  writeFileSync(DOC, doc)
}

t.test('the generated sections of docs/configuration.md match the code', async (t) => {
  for (const section of SECTIONS) {
    t.equal(splice(doc, section.begin, section.end, section.body()).current, section.body(), `${section.end} section is current (UPDATE_CONFIG_DOCS=1 npx tap test/unit/config-docs.test.ts rewrites it)`)
  }
})

t.test('every option appears in the docs table and in --help with its key, flag and variable', async (t) => {
  const help = usage()
  for (const key of OPTION_KEYS) {
    for (const name of [key, flagName(key), envName(key)]) {
      t.ok(doc.includes(`\`${name}\``), `docs name ${name}`)
    }
    t.ok(help.includes(flagName(key)), `--help names ${flagName(key)}`)
    t.ok(help.includes(envName(key)), `--help names ${envName(key)}`)
  }
  t.match(help, /--config <path>/)
  t.match(help, /CAUSEWAY_CONFIG/)
  t.match(help, /--help/)
  t.match(help, /--version/)
})
