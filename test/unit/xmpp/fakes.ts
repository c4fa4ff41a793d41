/**
 * A ClientStream driven by hand for its tests: ManualClock, a recording
 * link and a recording sink on one Wire, the default configuration's
 * settings, and the server's bytes fed as the socket would deliver them.
 */
import { DEFAULT_CONFIG } from '../../../src/config/index.js'
import { clientStreamSettings } from '../../../src/config/settings.js'
import { ClientStream } from '../../../src/core/xmpp/client-stream.js'
import type { ClientStreamSettings, LinkInfo } from '../../../src/core/xmpp/client-stream.js'
import type { UpstreamOpenRequest } from '../../../src/core/xmpp/upstream-port.js'
import { FakeLink, RecordingSink } from '../../support/fake-link.js'
import { Wire } from '../../support/fake-upstream.js'
import { ManualClock } from '../../support/manual-clock.js'

export const STREAMS_NS = 'http://etherx.jabber.org/streams'
export const ERR_NS = 'urn:ietf:params:xml:ns:xmpp-streams'
export const TLS_NS = 'urn:ietf:params:xml:ns:xmpp-tls'
export const SASL_NS = 'urn:ietf:params:xml:ns:xmpp-sasl'
export const SASL2_NS = 'urn:xmpp:sasl:2'

/** The settings a default-configured server gives its ClientStreams. */
export const SETTINGS: ClientStreamSettings = clientStreamSettings(DEFAULT_CONFIG)

/** RFC 6120 §4.7: our header for `to='example.com'` (no lang, no from). */
export const OUR_HEADER = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS_NS}' to='example.com' version='1.0'>`
export const OUR_CLOSE = '</stream:stream>'
export const STARTTLS_OUT = `<starttls xmlns='${TLS_NS}'/>`

/** The server's header, as it arrives on the wire. */
export function serverHeader(id = 's1', extra = " xml:lang='en'"): string {
  return `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS_NS}' from='example.com' id='${id}' version='1.0'${extra}>`
}

/** Features of a plain stream that offers STARTTLS. */
export const FEATURES_STARTTLS = `<stream:features><starttls xmlns='${TLS_NS}'/><mechanisms xmlns='${SASL_NS}'><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>`
export const FEATURES_STARTTLS_REQUIRED = `<stream:features><starttls xmlns='${TLS_NS}'><required/></starttls><mechanisms xmlns='${SASL_NS}'><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>`
/** Features without STARTTLS. */
export const FEATURES_PLAIN = `<stream:features><mechanisms xmlns='${SASL_NS}'><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>`
/** How FEATURES_PLAIN reaches the sink. */
export const FEATURES_PLAIN_OUT = `<stream:features><mechanisms xmlns="${SASL_NS}"><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>`
/** Features after SASL: bind. */
export const FEATURES_BIND = `<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>`
export const FEATURES_BIND_OUT = `<stream:features><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></stream:features>`

/** A link to a server on another host, plain TCP, STARTTLS optional. */
export const PLAIN_REMOTE: LinkInfo = { encrypted: false, loopback: false, tlsRequired: false }
/** A link to a server on this host, plain TCP. */
export const LOOPBACK: LinkInfo = { encrypted: false, loopback: true, tlsRequired: false }
/** XEP-0368 direct TLS. */
export const DIRECT_TLS: LinkInfo = { encrypted: true, loopback: false, tlsRequired: false }
/** A `starttls://` route: TLS or nothing. */
export const TLS_REQUIRED: LinkInfo = { encrypted: false, loopback: false, tlsRequired: true }

export class StreamHarness {
  readonly clock = new ManualClock()
  readonly wire = new Wire()
  readonly sink = new RecordingSink(this.wire)
  readonly settings: ClientStreamSettings
  readonly stream: ClientStream
  readonly links: FakeLink[] = []
  readonly requests: UpstreamOpenRequest[] = []
  /** Called with each link as it is made, before the stream uses it: arrange a link that reports synchronously. */
  onLink: ((link: FakeLink) => void) | undefined

  constructor(settings: Partial<ClientStreamSettings> = {}) {
    this.settings = { ...SETTINGS, ...settings }
    this.stream = new ClientStream(this.settings, this.clock, this.sink, (stream, request) => {
      if (stream !== this.stream) throw new Error('makeLink was handed another stream')
      this.requests.push(request)
      const link = new FakeLink(this.wire)
      this.links.push(link)
      this.onLink?.(link)
      return link
    })
  }

  /** The one link made so far. */
  get link(): FakeLink {
    const link = this.links[0]
    if (!link) throw new Error('no link yet')
    return link
  }

  open(request: UpstreamOpenRequest = { to: 'example.com' }): void {
    this.stream.open(request)
  }

  /** open() and the link up: our header is on the wire. */
  connect(info: LinkInfo = LOOPBACK, request?: UpstreamOpenRequest): void {
    this.open(request)
    this.stream.linkUp(info)
  }

  /** Bytes from the server, as one read. */
  server(xml: string): void {
    this.stream.linkData(Buffer.from(xml, 'utf8'))
  }

  /** Connected over `info`, the server's header and plain features read: the first stream is open; the log is cleared. */
  opened(info: LinkInfo = LOOPBACK): this {
    this.connect(info)
    this.server(serverHeader() + FEATURES_PLAIN)
    this.mark()
    return this
  }

  /** Clear the wire log (after setup steps a test does not assert). */
  mark(): void {
    this.wire.log.length = 0
  }
}

/** Client bytes, as sessions hand them to the port. */
export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)
