/**
 * Stanzas from the server's stream, made to stand alone (an RFC 7395
 * message, a child of a BOSH `<body/>`): inside `<stream:stream>` they
 * inherit `jabber:client` and the `stream` prefix from the root, so those
 * declarations are written into the start tag when the stanza lacks them.
 * Everything else travels exactly as the server wrote it.
 */
import { NS } from '../conditions.js'
import type { XmlElement } from '../xml/tokenizer.js'

const DEFAULT_DECLARATION = new TextEncoder().encode(` xmlns='${NS.client}'`)
const STREAM_DECLARATION = new TextEncoder().encode(` xmlns:stream='${NS.stream}'`)

/** The declaration `stanza` needs to stand alone, if any. */
function missingDeclaration(stanza: XmlElement): Uint8Array | undefined {
  const prefix = stanza.prefix
  if (prefix === undefined) return stanza.has('xmlns') ? undefined : DEFAULT_DECLARATION
  if (prefix === 'stream') return stanza.has('xmlns:stream') ? undefined : STREAM_DECLARATION
  return undefined
}

/** The stanza's bytes with the declarations it inherited from the stream root added. */
export function standalone(stanza: XmlElement): Uint8Array {
  const declaration = missingDeclaration(stanza)
  if (!declaration) return stanza.bytes
  const bytes = stanza.bytes
  const at = stanza.nameEnd
  const out = new Uint8Array(bytes.length + declaration.length)
  out.set(bytes.subarray(0, at), 0)
  out.set(declaration, at)
  out.set(bytes.subarray(at), at + declaration.length)
  return out
}

/** The stanza uses the `stream:` prefix (XEP-0206 §2: a BOSH wrapper must then declare it). */
export function usesStreamPrefix(stanza: XmlElement): boolean {
  return stanza.prefix === 'stream'
}
