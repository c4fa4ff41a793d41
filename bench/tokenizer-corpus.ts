/**
 * Inputs for the tokenizer micro-benchmark, generated from a fixed seed so
 * every run parses the same bytes: what an XMPP server sends a client
 * (the upstream direction Causeway parses as one long stream).
 *
 * - the mix: chat messages with bodies of various sizes (some with entities,
 *   some with non-ASCII text), chat states, presence with entity
 *   capabilities and avatar hashes, MUC presence, pings, roster results,
 *   MAM results with forwarded messages and delay stamps;
 * - the large stanza: one vCard result with a ~60 KB base64 photo, the kind
 *   of stanza that crosses many TCP reads.
 */

const STREAM_HEADER =
  `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' ` +
  `xml:lang='en' from='localhost' id='0a1b2c3d-4e5f-6789-abcd-ef0123456789' version='1.0'>`

/** mulberry32: small, fast, good enough to pick sizes and kinds. */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const WORDS = ['hello', 'meeting', 'tomorrow', 'the', 'server', 'is', 'back', 'ok', 'see', 'you', 'at', 'ten', 'lunch', 'deploy', 'done', 'thanks', 'why', 'not', 'link', 'build']
const UNICODE = ['café', 'naïve', 'Grüße', '日本語のテキスト', 'Привет', 'العربية', '😀', '👍🏽', 'ε = mc²', '€100']
const ENTITIES = ['&amp;', '&lt;', '&gt;', '&quot;', '&apos;', 'fish &amp; chips', 'a &lt; b &amp;&amp; c &gt; d']

export interface Corpus {
  readonly name: string
  /** The whole stream, header included, as UTF-8. */
  readonly bytes: Buffer
  /** Top-level children of the stream root. */
  readonly stanzas: number
}

function text(rnd: () => number, length: number, flavour: 'plain' | 'unicode' | 'entities'): string {
  let out = ''
  while (out.length < length) {
    const r = rnd()
    if (flavour === 'unicode' && r < 0.15) out += UNICODE[Math.floor(rnd() * UNICODE.length)]!
    else if (flavour === 'entities' && r < 0.1) out += ENTITIES[Math.floor(rnd() * ENTITIES.length)]!
    else out += WORDS[Math.floor(rnd() * WORDS.length)]!
    out += ' '
  }
  return out.trimEnd()
}

function hex(rnd: () => number, length: number): string {
  let out = ''
  for (let i = 0; i < length; i++) out += '0123456789abcdef'[Math.floor(rnd() * 16)]!
  return out
}

function bodyLength(rnd: () => number): number {
  const r = rnd()
  if (r < 0.7) return 10 + Math.floor(rnd() * 90)
  if (r < 0.95) return 100 + Math.floor(rnd() * 900)
  return 1000 + Math.floor(rnd() * 3000)
}

function stanza(rnd: () => number, i: number): string {
  const user = (n: number) => `user${n}@localhost`
  const me = `${user(0)}/conversejs-${hex(rnd, 8)}`
  const peer = Math.floor(rnd() * 200) + 1
  const id = `${hex(rnd, 8)}-${hex(rnd, 4)}-${hex(rnd, 4)}`
  const r = rnd()
  if (r < 0.4) {
    const f = rnd()
    const flavour = f < 0.2 ? 'unicode' : f < 0.3 ? 'entities' : 'plain'
    return (
      `<message from='${user(peer)}/phone' to='${me}' type='chat' id='${id}' xml:lang='en'>` +
      `<body>${text(rnd, bodyLength(rnd), flavour)}</body>` +
      `<active xmlns='http://jabber.org/protocol/chatstates'/><request xmlns='urn:xmpp:receipts'/>` +
      `<origin-id xmlns='urn:xmpp:sid:0' id='${id}'/><stanza-id xmlns='urn:xmpp:sid:0' by='${user(0)}' id='${hex(rnd, 16)}'/></message>`
    )
  }
  if (r < 0.5) return `<message from='${user(peer)}/phone' to='${me}' type='chat' id='${id}'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`
  if (r < 0.72) {
    const show = ['away', 'dnd', 'xa', 'chat'][Math.floor(rnd() * 4)]!
    return (
      `<presence from='${user(peer)}/laptop' to='${me}' id='${id}'><show>${show}</show><status>${text(rnd, 20 + Math.floor(rnd() * 40), rnd() < 0.2 ? 'unicode' : 'plain')}</status>` +
      `<priority>${Math.floor(rnd() * 10)}</priority><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://conversejs.org' ver='${hex(rnd, 27)}='/>` +
      `<x xmlns='vcard-temp:x:update'><photo>${hex(rnd, 40)}</photo></x></presence>`
    )
  }
  if (r < 0.77) {
    return (
      `<presence from='room${peer % 7}@conference.localhost/${text(rnd, 8, 'unicode')}' to='${me}' id='${id}'>` +
      `<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='http://psi-im.org' ver='${hex(rnd, 27)}='/>` +
      `<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='participant' jid='${user(peer)}/laptop'/></x></presence>`
    )
  }
  if (r < 0.87) {
    return rnd() < 0.5
      ? `<iq from='localhost' to='${me}' type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`
      : `<iq from='${user(peer)}/phone' to='${me}' type='result' id='${id}'/>`
  }
  if (r < 0.9) {
    const items = 10 + Math.floor(rnd() * 140)
    let roster = `<iq to='${me}' type='result' id='${id}'><query xmlns='jabber:iq:roster' ver='${hex(rnd, 12)}'>`
    for (let k = 0; k < items; k++) {
      roster +=
        `<item jid='${user(k + 1)}' name='${text(rnd, 6 + Math.floor(rnd() * 12), rnd() < 0.2 ? 'unicode' : 'plain')}' subscription='both'>` +
        `<group>${['Friends', 'Work', 'Family', 'Ünïcödé'][k % 4]}</group></item>`
    }
    return `${roster}</query></iq>`
  }
  return (
    `<message to='${me}' id='${id}'><result xmlns='urn:xmpp:mam:2' queryid='q${i}' id='${hex(rnd, 16)}'>` +
    `<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2026-11-${10 + (i % 18)}T12:${10 + (i % 49)}:00Z'/>` +
    `<message xmlns='jabber:client' from='${user(peer)}/phone' to='${user(0)}' type='chat' id='${hex(rnd, 12)}'>` +
    `<body>${text(rnd, bodyLength(rnd), rnd() < 0.2 ? 'unicode' : 'plain')}</body></message></forwarded></result></message>`
  )
}

/** About `targetBytes` of the realistic mix. */
export function stanzaMix(targetBytes: number, seed = 10): Corpus {
  const rnd = random(seed)
  const parts = [STREAM_HEADER]
  let bytes = Buffer.byteLength(STREAM_HEADER)
  let stanzas = 0
  while (bytes < targetBytes) {
    const s = stanza(rnd, stanzas)
    parts.push(s)
    bytes += Buffer.byteLength(s)
    stanzas++
  }
  return { name: `stanza mix (${stanzas.toLocaleString('en-US')} stanzas)`, bytes: Buffer.from(parts.join(''), 'utf8'), stanzas }
}

/** One vCard result of about `stanzaBytes` (a base64 photo), repeated `count` times on one stream. */
export function largeStanza(stanzaBytes: number, count: number, seed = 60): Corpus {
  const rnd = random(seed)
  const head =
    `<iq from='user7@localhost' to='user0@localhost/conversejs-1a2b3c4d' type='result' id='vc-${hex(rnd, 8)}'>` +
    `<vCard xmlns='vcard-temp'><FN>Ŧëst Üser</FN><NICKNAME>tester &amp; friend</NICKNAME><PHOTO><TYPE>image/jpeg</TYPE><BINVAL>`
  const tail = `</BINVAL></PHOTO></vCard></iq>`
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  let photo = ''
  const length = stanzaBytes - head.length - tail.length
  for (let i = 0; i < length; i++) photo += i % 77 === 76 ? '\n' : alphabet[Math.floor(rnd() * 64)]!
  const one = head + photo + tail
  return {
    name: `${(Buffer.byteLength(one) / 1000).toFixed(0)} KB stanza × ${count}`,
    bytes: Buffer.from(STREAM_HEADER + one.repeat(count), 'utf8'),
    stanzas: count,
  }
}
