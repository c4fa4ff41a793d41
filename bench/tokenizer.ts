/**
 * `npm run bench:tokenizer`: the XML tokenizer micro-benchmark. Each
 * candidate reads the same bytes (bench/tokenizer-corpus.ts) in 16 KiB
 * chunks, as they come off a TCP socket, and counts the stanzas (top-level
 * children of the stream root) it completed; a candidate whose count is
 * wrong is reported as broken. Figures: MB/s of UTF-8 input and ns per
 * stanza, medians over interleaved repetitions (the candidate order rotates,
 * so a noisy moment on the shared machine does not hit one candidate only).
 *
 * To compare another tokenizer, add one entry to CANDIDATES.
 */
import { StringDecoder } from 'node:string_decoder'
import { parseArgs } from 'node:util'
import * as ltx from 'ltx'
import { Element } from 'ltx'
import { SaxesParser } from 'saxes'
import { XmlStreamReader } from '../src/core/xml/stream-reader.js'
import { XmlTokenizer } from '../src/core/xml/tokenizer.js'
import { median, rotate } from './paths.js'
import { markdownTable } from './report.js'
import { largeStanza, stanzaMix } from './tokenizer-corpus.js'
import type { Corpus } from './tokenizer-corpus.js'

/** ltx's SAX tokenizer, reached through its public entry (ltx.Parser's default tokenizer) rather than a deep import. */
interface SaxTokenizer {
  on(event: 'startElement', listener: (name: string, attrs: Record<string, string>) => void): unknown
  on(event: 'endElement', listener: (name: string) => void): unknown
  on(event: 'text', listener: (text: string) => void): unknown
  write(data: string): void
}
const SaxLtx = (ltx as unknown as { Parser: { prototype: { DefaultParser: new () => SaxTokenizer } } }).Parser.prototype.DefaultParser

/** The reader's default limits (the config defaults: maxStanzaBytes 262144 and the XML limits). */
const LIMITS = { maxStanzaBytes: 256 * 1024, maxDepth: 64, maxAttributes: 64, maxAttributeValueBytes: 64 * 1024, maxNameBytes: 256 }

/** One stream's worth of tokenizer. */
export interface StreamTokenizer {
  /** The next chunk of bytes; returns how many stanzas it completed. Throws on anything it cannot read. */
  feed(chunk: Buffer): number
}

export interface TokenizerCandidate {
  readonly name: string
  /** What it does with the input, for the report. */
  readonly note: string
  open(): StreamTokenizer
}

/** SAX-style events to a stanza count: a closing tag at depth 1 completes a stanza. */
class Depth {
  depth = 0
  completed = 0
  open(): void {
    this.depth++
  }
  close(): void {
    if (--this.depth === 1) this.completed++
  }
  take(): number {
    const n = this.completed
    this.completed = 0
    return n
  }
}

export const CANDIDATES: readonly TokenizerCandidate[] = [
  {
    name: 'Causeway XmlTokenizer',
    note: "src/core/xml/tokenizer.ts in 'stream' mode, default limits: UTF-8, RFC 6120 §11, every limit and the stanza framing in one byte pass; each stanza as its bytes (what the relay path uses)",
    open() {
      let n = 0
      let failure: string | undefined
      const tokenizer = new XmlTokenizer('stream', LIMITS, {
        rootStart: () => {},
        element: () => void n++,
        rootEnd: () => {},
        error: (f) => void (failure = `${f.condition}: ${f.text ?? ''}`),
      })
      return {
        feed(chunk) {
          n = 0
          tokenizer.write(chunk)
          if (failure !== undefined) throw new Error(failure)
          return n
        },
      }
    },
  },
  {
    name: 'Causeway XmlStreamReader',
    note: "src/core/xml/stream-reader.ts in 'stream' mode: the tokenizer, then one ltx Element tree per stanza (what the cold paths and tests use)",
    open() {
      const reader = new XmlStreamReader('stream', LIMITS)
      return {
        feed(chunk) {
          let n = 0
          for (const event of reader.write(chunk)) {
            if (event.type === 'element') n++
            else if (event.type === 'error') throw new Error(`${event.failure.condition}: ${event.failure.text ?? ''}`)
          }
          return n
        },
      }
    },
  },
  {
    name: 'ltx SAX alone',
    note: "ltx.Parser's default tokenizer (ltx/src/parsers/ltx.js, reached through the public entry): StringDecoder, then SAX events only (no tree, no checks)",
    open() {
      const decoder = new StringDecoder('utf8')
      const sax = new SaxLtx()
      const depth = new Depth()
      sax.on('startElement', () => depth.open())
      sax.on('endElement', () => depth.close())
      sax.on('text', () => {})
      return {
        feed(chunk) {
          sax.write(decoder.write(chunk))
          return depth.take()
        },
      }
    },
  },
  {
    name: 'ltx SAX + Element tree',
    note: 'ltx tokenizer building one ltx Element per stanza, as the reader does, without its scanner',
    open() {
      const decoder = new StringDecoder('utf8')
      const sax = new SaxLtx()
      let depth = 0
      let completed = 0
      let cursor: Element | undefined
      sax.on('startElement', (name: string, attrs: Record<string, string>) => {
        depth++
        if (depth === 1) return
        const element = new Element(name, attrs)
        if (cursor) cursor.cnode(element)
        cursor = element
      })
      sax.on('endElement', () => {
        depth--
        if (depth === 1) {
          completed++
          cursor = undefined
        } else if (cursor) {
          cursor = cursor.parent ?? undefined
        }
      })
      sax.on('text', (text: string) => cursor?.t(text))
      return {
        feed(chunk) {
          sax.write(decoder.write(chunk))
          const n = completed
          completed = 0
          return n
        },
      }
    },
  },
  {
    name: 'saxes alone',
    note: 'saxes 6 (xmlns: false): StringDecoder, then a well-formedness-checking XML tokenizer (events only, no tree)',
    open() {
      const decoder = new StringDecoder('utf8')
      const parser = new SaxesParser({ xmlns: false })
      const depth = new Depth()
      let failure: Error | undefined
      parser.on('opentag', () => depth.open())
      parser.on('closetag', () => depth.close())
      parser.on('text', () => {})
      parser.on('error', (error) => (failure ??= error))
      return {
        feed(chunk) {
          parser.write(decoder.write(chunk))
          if (failure) throw failure
          return depth.take()
        },
      }
    },
  },
]

const CHUNK_BYTES = 16 * 1024

function chunks(corpus: Corpus): Buffer[] {
  const out: Buffer[] = []
  for (let at = 0; at < corpus.bytes.length; at += CHUNK_BYTES) out.push(corpus.bytes.subarray(at, at + CHUNK_BYTES))
  return out
}

/** One pass: a fresh tokenizer reads the whole corpus; returns ns taken, or throws if the stanza count is wrong. */
function pass(candidate: TokenizerCandidate, corpus: Corpus, input: readonly Buffer[]): number {
  const started = process.hrtime.bigint()
  const tokenizer = candidate.open()
  let stanzas = 0
  for (const chunk of input) stanzas += tokenizer.feed(chunk)
  const ns = Number(process.hrtime.bigint() - started)
  if (stanzas !== corpus.stanzas) throw new Error(`read ${stanzas} stanzas, expected ${corpus.stanzas}`)
  return ns
}

interface Figures {
  readonly candidate: string
  readonly corpus: string
  readonly mbPerSecond: number
  readonly nsPerStanza: number
  readonly passes: number
  readonly broken?: string
}

function measure(candidates: readonly TokenizerCandidate[], corpus: Corpus, repetitions: number, minMsPerTurn: number): Figures[] {
  const input = chunks(corpus)
  const times = new Map<string, number[]>(candidates.map((c) => [c.name, []]))
  const broken = new Map<string, string>()
  for (const candidate of candidates) {
    // Warm-up: let the JIT compile the hot paths.
    try {
      for (let i = 0; i < 3; i++) pass(candidate, corpus, input)
    } catch (error) {
      broken.set(candidate.name, (error as Error).message)
    }
  }
  for (let rep = 0; rep < repetitions; rep++) {
    for (const candidate of rotate(candidates, rep)) {
      if (broken.has(candidate.name)) continue
      // A turn is as many passes as fit in minMsPerTurn; each pass is one sample.
      const turnStarted = performance.now()
      do times.get(candidate.name)!.push(pass(candidate, corpus, input))
      while (performance.now() - turnStarted < minMsPerTurn)
    }
  }
  return candidates.map((c) => {
    const ns = median(times.get(c.name)!)
    return {
      candidate: c.name,
      corpus: corpus.name,
      mbPerSecond: corpus.bytes.length / 1e6 / (ns / 1e9),
      nsPerStanza: ns / corpus.stanzas,
      passes: times.get(c.name)!.length,
      ...(broken.has(c.name) ? { broken: broken.get(c.name)! } : {}),
    }
  })
}

function main(): number {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' }, help: { type: 'boolean' } } })
  if (values.help) {
    process.stdout.write('Usage: npm run bench:tokenizer [-- --quick]\n')
    return 0
  }
  const quick = values.quick === true || process.env.BENCH_QUICK === '1'
  const repetitions = quick ? 3 : 9
  const minMsPerTurn = quick ? 100 : 250
  const corpora = [stanzaMix(1_000_000), largeStanza(60_000, 16)]
  for (const corpus of corpora) {
    process.stdout.write(`[tokenizer] ${corpus.name}: ${(corpus.bytes.length / 1e6).toFixed(2)} MB, ${(corpus.bytes.length / corpus.stanzas).toFixed(0)} bytes per stanza on average\n`)
  }
  const results = corpora.flatMap((corpus) => measure(CANDIDATES, corpus, repetitions, minMsPerTurn))
  const lines = [
    '',
    `## XML tokenizers, ${CHUNK_BYTES / 1024} KiB chunks (Node ${process.version}; medians of ${repetitions} interleaved turns of ≥ ${minMsPerTurn} ms)`,
    '',
    markdownTable(
      ['candidate', ...corpora.flatMap((c) => [`${c.name}: MB/s`, 'ns/stanza'])],
      CANDIDATES.map((c) => [
        c.name,
        ...corpora.flatMap((corpus) => {
          const r = results.find((x) => x.candidate === c.name && x.corpus === corpus.name)!
          return r.broken !== undefined ? ['BROKEN', '–'] : [r.mbPerSecond.toFixed(1), Math.round(r.nsPerStanza).toLocaleString('en-US')]
        }),
      ]),
    ),
    '',
    ...CANDIDATES.map((c) => `- ${c.name}: ${c.note}`),
  ]
  const broken = results.filter((r) => r.broken !== undefined)
  for (const r of broken) lines.push(`BROKEN: ${r.candidate} on ${r.corpus}: ${r.broken}`)
  process.stdout.write(lines.join('\n') + '\n')
  return broken.length > 0 ? 1 : 0
}

process.exitCode = main()
