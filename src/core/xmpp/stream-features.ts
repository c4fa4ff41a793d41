/**
 * What the client may see of the upstream's stream features.
 *
 * Causeway negotiates upstream TLS itself, so `<starttls/>` is not the
 * client's to use (RFC 6120 §5.3.1), and SASL `-PLUS` mechanisms bind to a
 * TLS channel the client is not on (RFC 5802 §6): through a relay they could
 * only fail.
 */
import { Element } from 'ltx'
import { NS } from '../conditions.js'

export function clientVisibleFeatures(features: Element): Element {
  const copy = new Element(features.name, { ...features.attrs })
  for (const child of features.children) {
    if (typeof child === 'string') continue
    if (child.is('starttls', NS.tls)) continue
    if (child.is('mechanisms', NS.sasl)) {
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
