/**
 * UTF-8 validation that says *where* input stops being valid, so a reader
 * can deliver everything before a bad byte no matter how the bytes were
 * split into reads (TextDecoder's fatal mode only says "somewhere").
 * Rules: Unicode 15 Table 3-7, well-formed byte sequences.
 */
export interface Utf8Scan {
  /** Bytes at the start that form complete, valid sequences. */
  readonly valid: number
  /** True when the bytes after `valid` are the valid start of an unfinished sequence. */
  readonly incompleteTail: boolean
}

export function scanUtf8(bytes: Uint8Array): Utf8Scan {
  const length = bytes.length
  let i = 0
  while (i < length) {
    const lead = bytes[i] as number
    if (lead < 0x80) {
      i += 1
      continue
    }
    let needed: number
    let low = 0x80
    let high = 0xbf
    if (lead >= 0xc2 && lead <= 0xdf) needed = 1
    else if (lead >= 0xe0 && lead <= 0xef) {
      needed = 2
      if (lead === 0xe0) low = 0xa0
      else if (lead === 0xed) high = 0x9f // no surrogates
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      needed = 3
      if (lead === 0xf0) low = 0x90
      else if (lead === 0xf4) high = 0x8f // nothing above U+10FFFF
    } else {
      return { valid: i, incompleteTail: false }
    }
    for (let k = 1; k <= needed; k++) {
      if (i + k >= length) return { valid: i, incompleteTail: true }
      const byte = bytes[i + k] as number
      const min = k === 1 ? low : 0x80
      const max = k === 1 ? high : 0xbf
      if (byte < min || byte > max) return { valid: i, incompleteTail: false }
    }
    i += needed + 1
  }
  return { valid: length, incompleteTail: false }
}

/** UTF-8 length of a JS string without allocating (a lone surrogate counts as the 3-byte U+FFFD). */
export function utf8Length(text: string): number {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) bytes += 1
    else if (c < 0x800) bytes += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4
        i++
      } else bytes += 3
    } else bytes += 3
  }
  return bytes
}
