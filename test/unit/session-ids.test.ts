/**
 * RandomIds (src/system/random-ids.ts): BOSH sids and WebSocket session ids.
 * A BOSH sid is a bearer credential (with a rid, it drives the session), so
 * ids must be unique, well-formed and unpredictable. The statistical checks
 * are bounded so that a correct generator fails them with probability well
 * below one in ten thousand, while a counter, a clock prefix, a low-entropy
 * or a repeating source fails them outright (see the controls at the end).
 */
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { RandomIds } from '../../src/system/random-ids.js'
import type { IdSource } from '../../src/core/ids.js'

const DRAWS = 1_000_000
const LENGTH = 24 // 18 random bytes = 144 bits = exactly 24 base64url characters, no padding
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** Index of each base64url character in ALPHABET, by char code; -1 if not in it. */
const INDEX = new Int16Array(128).fill(-1)
for (let i = 0; i < ALPHABET.length; i++) INDEX[ALPHABET.charCodeAt(i)] = i

/**
 * Chi-square bounds for 63 degrees of freedom (64 equally likely symbols) at a
 * tail probability of about 1e-6 on each side (Wilson–Hilferty): ~22.9 and ~131.7.
 * 24 positions are tested, so a uniform source fails with p ≈ 5e-5.
 */
const CHI2_LOW = 22
const CHI2_HIGH = 132

function commonPrefix(a: string, b: string): number {
  let n = 0
  while (n < a.length && a.charCodeAt(n) === b.charCodeAt(n)) n++
  return n
}

interface Report {
  /** The first id that is not LENGTH base64url characters. */
  malformed: string | undefined
  /** Per position: how many of the 64 symbols never occurred. */
  unused: number[]
  /** Positions whose chi-square falls outside (CHI2_LOW, CHI2_HIGH). */
  chi2OutOfBounds: Array<{ p: number; x: number }>
  chi2Mean: number
  /** Bits (of LENGTH·6) set in a share of ids more than 6σ from one half. */
  skewedBits: number[]
  /** Longest prefix shared by two ids drawn one after the other. */
  longestConsecutive: number
  /** Position-wise agreements between neighbours, and how far that is from chance in σ. */
  sameAtPosition: number
  sameSigma: number
  duplicates: number
  /** Longest prefix shared by any two distinct ids. */
  longestAny: number
}

/** Statistics over ids in draw order. Sorts `ids` in place at the end. */
function analyse(ids: string[]): Report {
  const n = ids.length
  let malformed: string | undefined
  const counts = new Int32Array(LENGTH * 64)
  outer: for (const id of ids) {
    if (id.length !== LENGTH) {
      malformed = id
      break
    }
    for (let p = 0; p < LENGTH; p++) {
      const code = id.charCodeAt(p)
      const symbol = code < 128 ? (INDEX[code] ?? -1) : -1
      if (symbol < 0) {
        malformed = id
        break outer
      }
      counts[p * 64 + symbol]! += 1
    }
  }

  const expected = n / 64
  const unused: number[] = []
  const chi2: number[] = []
  for (let p = 0; p < LENGTH; p++) {
    let sum = 0
    let zeros = 0
    for (let s = 0; s < 64; s++) {
      const observed = counts[p * 64 + s] ?? 0
      if (observed === 0) zeros++
      sum += (observed - expected) ** 2 / expected
    }
    chi2.push(sum)
    unused.push(zeros)
  }

  const ones = new Float64Array(LENGTH * 6)
  for (let p = 0; p < LENGTH; p++) {
    for (let s = 0; s < 64; s++) {
      const c = counts[p * 64 + s] ?? 0
      for (let b = 0; b < 6; b++) if ((s >> (5 - b)) & 1) ones[p * 6 + b]! += c
    }
  }
  const bitSigma = Math.sqrt(n) / 2
  const skewedBits = [...ones].flatMap((k, bit) => (Math.abs(k - n / 2) > 6 * bitSigma ? [bit] : []))

  let longestConsecutive = 0
  let sameAtPosition = 0
  for (let i = 1; i < n; i++) {
    const a = ids[i - 1] ?? ''
    const b = ids[i] ?? ''
    longestConsecutive = Math.max(longestConsecutive, commonPrefix(a, b))
    for (let p = 0; p < LENGTH; p++) if (a.charCodeAt(p) === b.charCodeAt(p)) sameAtPosition++
  }
  // Neighbours agree at a given position with probability 1/64.
  const expectedSame = ((n - 1) * LENGTH) / 64
  const sameSigma = (sameAtPosition - expectedSame) / Math.sqrt(expectedSame * (63 / 64))

  // Sorting puts any duplicate next to its twin, and exposes clustering.
  ids.sort()
  let duplicates = 0
  let longestAny = 0
  for (let i = 1; i < n; i++) {
    const shared = commonPrefix(ids[i - 1] ?? '', ids[i] ?? '')
    if (shared === LENGTH) duplicates++
    else longestAny = Math.max(longestAny, shared)
  }

  return {
    malformed,
    unused,
    chi2OutOfBounds: chi2.map((x, p) => ({ p, x: Math.round(x * 10) / 10 })).filter(({ x }) => x < CHI2_LOW || x > CHI2_HIGH),
    chi2Mean: chi2.reduce((a, b) => a + b, 0) / LENGTH,
    skewedBits,
    longestConsecutive,
    sameAtPosition,
    sameSigma,
    duplicates,
    longestAny,
  }
}

function draw(source: IdSource, n: number): string[] {
  const ids = new Array<string>(n)
  for (let i = 0; i < n; i++) ids[i] = source.next()
  return ids
}

t.test('one million ids: unique, fixed length, URL- and XML-safe, statistically random', async (t) => {
  const started = Date.now()
  const ids = draw(new RandomIds(), DRAWS)
  t.comment(`${DRAWS} draws in ${Date.now() - started} ms`)
  const first = ids[0] ?? ''
  t.match(first, /^[A-Za-z0-9_-]{24}$/, 'base64url, 24 characters')
  t.equal(encodeURIComponent(first), first, 'needs no URL encoding')
  t.notOk(/[<>&'"\s=+/]/.test(ids.slice(0, 1000).join('')), 'no XML-special characters, whitespace, padding or standard-base64 +/')

  const r = analyse(ids)
  t.equal(r.malformed, undefined, `every id is ${LENGTH} base64url characters`)
  t.equal(r.duplicates, 0, 'all one million are distinct')
  t.same(r.unused, new Array(LENGTH).fill(0), 'every position uses all 64 symbols')
  t.same(r.chi2OutOfBounds, [], `per-position chi-square within (${CHI2_LOW}, ${CHI2_HIGH}) for 63 d.f.; mean ${r.chi2Mean.toFixed(1)} (expected 63)`)
  t.same(r.skewedBits, [], 'each of the 144 bits is set in half the ids (within 6σ)')
  // P(two independent ids share ≥ 5 leading characters) = 64^-5 ≈ 1e-9 per pair.
  t.ok(r.longestConsecutive < 5, `consecutive ids share at most ${r.longestConsecutive} leading characters`)
  t.ok(Math.abs(r.sameSigma) < 6, `neighbours agree position-wise by chance only (${r.sameAtPosition}, ${r.sameSigma.toFixed(1)}σ)`)
  // The longest prefix shared by any two of n random ids is about log64(n²/2) ≈ 6.6 here; ≥ 10 has p ≈ 4e-7.
  t.ok(r.longestAny >= 4 && r.longestAny < 10, `the longest prefix shared by any two ids is ${r.longestAny} characters`)
})

t.test('the NODE. prefix form', async (t) => {
  const ids = new RandomIds('eu-west-1')
  const drawn = draw(ids, 10_000)
  for (const id of drawn.slice(0, 3)) t.match(id, /^eu-west-1\.[A-Za-z0-9_-]{24}$/, 'NODE.random')
  t.ok(drawn.every((id) => /^eu-west-1\.[A-Za-z0-9_-]{24}$/.test(id)), 'every id is the node label, one dot and 24 random characters')
  t.equal(new Set(drawn).size, drawn.length, 'unique')
  t.equal(new Set(drawn.map((id) => id.split('.')[1])).size, drawn.length, 'and unique without the prefix')
  t.equal(drawn[0]?.split('.')[0], 'eu-west-1', 'the node label can be read back without a lookup')
  t.equal(encodeURIComponent(drawn[0] ?? ''), drawn[0], 'still URL-safe')

  t.match(new RandomIds().next(), /^[A-Za-z0-9_-]{24}$/, 'no node label: no prefix and no dot')
  t.match(new RandomIds('').next(), /^[A-Za-z0-9_-]{24}$/, 'an empty node label is no label')

  const other = new Set(draw(new RandomIds('eu-west-1'), 10_000))
  t.notOk(drawn.some((id) => other.has(id)), 'two generators with the same label do not collide (no shared seed)')
})

t.test('the byte count sets the length', async (t) => {
  t.match(new RandomIds('', 32).next(), /^[A-Za-z0-9_-]{43}$/, '32 bytes: 43 characters, unpadded')
  t.match(new RandomIds('n1', 16).next(), /^n1\.[A-Za-z0-9_-]{22}$/, '16 bytes with a label')
})

t.test('controls: the checks reject weak generators', async (t) => {
  const N = 20_000
  const b64 = (bytes: Buffer) => bytes.toString('base64url')
  let counter = 0n
  const sources: Record<string, IdSource> = {
    'a counter': {
      next: () => {
        counter += 1n
        return b64(Buffer.from(counter.toString(16).padStart(36, '0'), 'hex'))
      },
    },
    'a clock prefix': { next: () => b64(Buffer.concat([Buffer.from(Date.now().toString(16).padStart(12, '0'), 'hex'), randomBytes(12)])) },
    '32 bits of entropy': { next: () => b64(Buffer.concat([randomBytes(4), Buffer.alloc(14)])) },
    'a repeat every other draw': (() => {
      let last = ''
      let n = 0
      return { next: () => (n++ % 2 === 0 ? (last = b64(randomBytes(18))) : last) }
    })(),
  }
  for (const [name, source] of Object.entries(sources)) {
    const r = analyse(draw(source, N))
    t.equal(r.malformed, undefined, `${name}: well-formed, so only the statistics can catch it`)
    const caught = [
      r.duplicates > 0 && 'duplicates',
      r.unused.some((u) => u > 0) && 'unused symbols',
      r.chi2OutOfBounds.length > 0 && 'chi-square',
      r.skewedBits.length > 0 && 'skewed bits',
      r.longestConsecutive >= 5 && 'consecutive prefix',
      Math.abs(r.sameSigma) >= 6 && 'neighbour agreement',
      r.longestAny >= 10 && 'shared prefix',
    ].filter((x): x is string => typeof x === 'string')
    t.ok(caught.length > 0, `${name} is rejected (${caught.join(', ')})`)
  }
  // And a good source at this size passes all of them.
  const good = analyse(draw(new RandomIds(), N))
  t.same(
    [good.duplicates, good.unused.some((u) => u > 0), good.chi2OutOfBounds, good.skewedBits, good.longestConsecutive >= 5, Math.abs(good.sameSigma) >= 6, good.longestAny >= 10],
    [0, false, [], [], false, false, false],
    'RandomIds passes the same checks at this size',
  )
})
