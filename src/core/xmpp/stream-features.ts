/**
 * What the client may see of the upstream's stream features.
 *
 * Causeway negotiates upstream TLS itself, so `<starttls/>` is not the
 * client's to use (RFC 6120 §5.3.1), and channel binding (SASL `-PLUS`
 * mechanisms, RFC 5802 §6, in SASL and XEP-0388 SASL2 alike, and the
 * XEP-0440 list of binding types) binds to a TLS channel the client is not
 * on: through a relay it could only fail.
 */
import { Element } from 'ltx'
import { NS } from '../conditions.js'

/** XEP-0440: SASL Channel-Binding Type Capability. */
const NS_SASL_CHANNEL_BINDING = 'urn:xmpp:sasl-cb:0'

export function clientVisibleFeatures(features: Element): Element {
  const copy = new Element(features.name, { ...features.attrs })
  for (const child of features.children) {
    if (typeof child === 'string') continue
    if (child.is('starttls', NS.tls) || child.is('sasl-channel-binding', NS_SASL_CHANNEL_BINDING)) continue
    if (child.is('mechanisms', NS.sasl) || child.is('authentication', NS.sasl2)) {
      copy.cnode(withoutChannelBinding(child))
      continue
    }
    copy.cnode(child)
  }
  return copy
}

function withoutChannelBinding(mechanisms: Element): Element {
  const copy = new Element(mechanisms.name, { ...mechanisms.attrs })
  for (const child of mechanisms.children) {
    if (typeof child === 'string') continue
    if (child.getName() === 'mechanism' && child.getText().trim().toUpperCase().endsWith('-PLUS')) continue
    copy.cnode(child)
  }
  return copy
}

/** True when the features offer STARTTLS; `required` when the server insists. */
export function starttlsOffer(features: Element): { offered: boolean; required: boolean } {
  const starttls = features.getChild('starttls', NS.tls)
  return { offered: starttls !== undefined, required: starttls?.getChild('required') !== undefined }
}
