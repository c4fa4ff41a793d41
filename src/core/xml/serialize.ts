/**
 * Element → XML text for the wire.
 *
 * ltx's own toString() writes tab, newline and carriage return in attribute
 * values (and carriage return in text) as literal characters, which a
 * conforming parser then normalises (XML 1.0 §3.3.3, §2.11): `&#10;` read
 * from one side would arrive as a space on the other. Writing those as
 * character references keeps every value exactly as it was read.
 */
import type { Element, Node } from 'ltx'

const ATTRIBUTE_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  '\t': '&#9;',
  '\n': '&#10;',
  '\r': '&#13;',
}
const TEXT_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#13;' }

export function escapeAttribute(value: string): string {
  return value.replace(/[&<>"'\t\n\r]/g, (c) => ATTRIBUTE_ESCAPES[c] ?? c)
}

export function escapeText(value: string): string {
  return value.replace(/[&<>\r]/g, (c) => TEXT_ESCAPES[c] ?? c)
}

export function serialize(element: Element): string {
  const parts: string[] = []
  write(element, parts)
  return parts.join('')
}

function write(element: Element, parts: string[]): void {
  parts.push('<', element.name)
  for (const [name, value] of Object.entries(element.attrs)) {
    if (value === undefined || value === null) continue
    parts.push(' ', name, '="', escapeAttribute(String(value)), '"')
  }
  const children: Node[] = element.children
  if (children.length === 0) {
    parts.push('/>')
    return
  }
  parts.push('>')
  for (const child of children) {
    if (typeof child === 'string') parts.push(escapeText(child))
    else if (child) write(child, parts)
  }
  parts.push('</', element.name, '>')
}
