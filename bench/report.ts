/** Plain-text and Markdown formatting for the benchmark report. */

export function markdownTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n')
}

/** 12345.6 → "12,346"; NaN → "–". */
export function count(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '–'
  return Math.round(n).toLocaleString('en-US')
}

export function fixed(n: number | undefined, digits = 1): string {
  if (n === undefined || !Number.isFinite(n)) return '–'
  return n.toFixed(digits)
}

/** Milliseconds with sensible precision: 0.42, 4.2, 42. */
export function ms(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '–'
  if (n < 10) return n.toFixed(2)
  if (n < 100) return n.toFixed(1)
  return n.toFixed(0)
}

export function mib(kib: number | undefined): string {
  if (kib === undefined || !Number.isFinite(kib)) return '–'
  return `${(kib / 1024).toFixed(1)} MiB`
}
