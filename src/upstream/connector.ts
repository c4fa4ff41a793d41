/**
 * Where sessions get their upstream: the routing table decides where a
 * domain goes, and every stream is a ClientStream over a SocketLink with
 * the same settings, whichever transport the client came by.
 */
import type { Clock } from '../core/clock.js'
import { ClientStream } from '../core/xmpp/client-stream.js'
import type { ClientStreamLink, ClientStreamSettings } from '../core/xmpp/client-stream.js'
import type { RouteVerdict, UpstreamConnector, UpstreamOpenRequest, UpstreamPort, UpstreamSink } from '../core/xmpp/upstream-port.js'
import type { Logger } from '../observability/logger.js'
import type { SrvResolver, TlsSettings } from './connect.js'
import type { RouteResult, RoutingTable } from './routing.js'
import { SocketLink } from './socket-link.js'

export interface UpstreamSettings {
  readonly stream: ClientStreamSettings
  readonly tls: TlsSettings
  readonly resolveSrv?: SrvResolver
}

/** What one session adds: its PROXY protocol header and its logger. */
export interface SessionUpstreamContext {
  readonly preamble?: Uint8Array | undefined
  readonly log: Logger
}

export class Upstreams {
  constructor(
    private readonly routing: RoutingTable,
    private readonly settings: UpstreamSettings,
    private readonly clock: Clock,
  ) {}

  /** The routing table's answer, target included (for policy checks such as BOSH 'route'). */
  resolve(to: string | undefined): RouteResult {
    return this.routing.resolve(to)
  }

  route(to: string | undefined): RouteVerdict {
    const routed = this.routing.resolve(to)
    return routed.ok ? { ok: true, domain: routed.domain } : { ok: false, condition: routed.condition, reason: routed.reason }
  }

  /** The connector one session uses. */
  forSession(context: SessionUpstreamContext): UpstreamConnector {
    return {
      route: (to) => this.route(to),
      connect: (sink) => this.#connect(sink, context),
    }
  }

  #connect(sink: UpstreamSink, context: SessionUpstreamContext): UpstreamPort {
    const linkSettings = { tls: this.settings.tls, resolveSrv: this.settings.resolveSrv, preamble: context.preamble }
    const makeLink = (stream: ClientStream, request: UpstreamOpenRequest): ClientStreamLink => {
      const routed = this.routing.resolve(request.to)
      // The session routed `to` a moment ago and the table never changes; a miss is a bug, reported like DNS finding nothing.
      if (!routed.ok) return unroutableLink(stream, routed.reason)
      return new SocketLink(stream, routed.target, routed.domain, linkSettings, context.log)
    }
    return new ClientStream(this.settings.stream, this.clock, sink, makeLink)
  }
}

function unroutableLink(stream: ClientStream, reason: string): ClientStreamLink {
  return {
    connect: () => stream.linkFailed('dns', 'the XMPP server could not be located', reason),
    write: () => {},
    queuedBytes: 0,
    startTls: () => {},
    pause: () => {},
    resume: () => {},
    end: () => {},
    destroy: () => {},
  }
}
