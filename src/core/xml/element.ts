/**
 * From received bytes to ltx elements, for what Causeway must understand
 * (stream features it edits, stream errors, tests). The relay path never
 * needs this: stanzas travel as the bytes they arrived as.
 */
import { Element, parse } from 'ltx'
import type { XmlElement } from './tokenizer.js'

const decoder = new TextDecoder('utf-8', { ignoreBOM: true })

/**
 * ltx loses the text after a CDATA section, so sections become escaped text
 * first (the tokenizer already checked the input, so this is exact).
 */
function withoutCdata(xml: string): string {
  if (xml.indexOf('<![CDATA[') < 0) return xml
  return xml.replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, (_, text: string) => text.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;')))
}

/** A start tag, its quoted values skipped whole (they may hold '>'); after withoutCdata every '<' in content is markup. */
const START_TAG = /<[^\s/>!?][^>'"]*(?:(?:'[^']*'|"[^"]*")[^>'"]*)*>/g
const QUOTED = /'[^']*'|"[^"]*"/g
const VALUE_WHITESPACE = /\r\n?|[\t\n]/g

/**
 * XML 1.0 §3.3.3, which ltx does not apply: a literal TAB, CR, LF (a CR LF
 * pair as one, §2.11) in an attribute value reads as a space, as
 * XmlElement.attr() reads it. References to them are left to ltx.
 */
function normaliseValues(xml: string): string {
  return xml.replace(START_TAG, (tag) => tag.replace(QUOTED, (value) => value.replace(VALUE_WHITESPACE, ' ')))
}

/** A complete element as an ltx tree; `parent` lets prefixes resolve against the stream root's declarations. */
export function toElement(xml: XmlElement, parent?: Element): Element {
  const text = withoutCdata(decoder.decode(xml.bytes))
  const element = parse(xml.valueWhitespace ? normaliseValues(text) : text)
  if (parent) element.parent = parent
  return element
}

/** A root's start tag (stream header, `<body>`) as an ltx element without children. */
export function rootElement(root: XmlElement): Element {
  return new Element(root.name, root.attrs())
}
