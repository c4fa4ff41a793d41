/**
 * What the server says about the client's login, read from the few elements
 * that say it: SASL and SASL2 `<failure/>` (RFC 6120 §6.5, XEP-0388 §2.6),
 * SASL2 `<success/>` with its authorization identifier (XEP-0388 §2.5), and
 * the resource binding result (RFC 6120 §7.6.1). The client stream asks only
 * until the session is authenticated and bound, so the relay path after
 * that pays nothing.
 */
import type { Element } from 'ltx'
import { NS } from '../conditions.js'


/** RFC 6120 §6.5 SASL error conditions (XEP-0388 reuses them). */
export const SASL_FAILURE_CONDITIONS = [
  'aborted',
  'account-disabled',
  'credentials-expired',
  'encryption-required',
  'incorrect-encoding',
  'invalid-authzid',
  'invalid-mechanism',
  'malformed-request',
  'mechanism-too-weak',
  'not-authorized',
  'temporary-auth-failure',
] as const
export type SaslFailureCondition = (typeof SASL_FAILURE_CONDITIONS)[number]

const SASL_NAMESPACES: ReadonlySet<string> = new Set([NS.sasl, NS.sasl2])

/** The condition of a SASL or SASL2 `<failure/>`, `undefined` for any other element; `not-authorized` when it names none we know. */
export function saslFailureCondition(element: Element): SaslFailureCondition | undefined {
  if (element.getName() !== 'failure' || !SASL_NAMESPACES.has(element.getNS() ?? '')) return undefined
  for (const child of element.getChildElements()) {
    const name = child.getName()
    if ((SASL_FAILURE_CONDITIONS as readonly string[]).includes(name)) return name as SaslFailureCondition
  }
  return 'not-authorized'
}

/** A full JID from `<iq type='result'><bind><jid>…</jid></bind></iq>` (RFC 6120 §7.6.1), else undefined. */
export function boundJid(element: Element): string | undefined {
  if (element.getName() !== 'iq' || element.attrs.type !== 'result') return undefined
  const bind = element.getChild('bind', NS.bind)
  const jid = bind?.getChildText('jid')
  return jid ? jid.trim() : undefined
}

/** XEP-0388 §2.5: the `<authorization-identifier/>` of a SASL2 `<success/>`, when it is a full JID (Bind 2 bound a resource). */
export function sasl2BoundJid(success: Element): string | undefined {
  if (success.getNS() !== NS.sasl2) return undefined
  const jid = success.getChildText('authorization-identifier', NS.sasl2)?.trim()
  return jid !== undefined && jid.includes('/') ? jid : undefined
}
