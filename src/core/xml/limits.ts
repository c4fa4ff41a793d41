/**
 * The bounds every XML reader holds its input to; each protects memory or
 * work per stream. Values come from the config option table.
 */
export interface XmlLimits {
  /** Bytes one top-level element (stanza) may span, whitespace before it included. */
  readonly maxStanzaBytes: number
  /** Element nesting depth, the stream root counting as 1. */
  readonly maxDepth: number
  /** Attributes on one element. */
  readonly maxAttributes: number
  /** Bytes in one attribute value (as written, before entity expansion). */
  readonly maxAttributeValueBytes: number
  /** Bytes in an element or attribute name. */
  readonly maxNameBytes: number
}

/**
 * Names are not configurable: no XMPP element or attribute name comes close,
 * and the bound keeps a hostile name from growing a parser buffer.
 */
export const MAX_NAME_BYTES = 256
