/**
 * Where sessions get their upstream: the routing table decides where a
 * domain goes, and every stream is a ClientStream over a SocketLink with
 * the same settings, whichever transport the client came by.
 *
 * Each stream's start and end are also watched here, outside the cores: the
 * first features mark the upstream reachable, a failure before them marks
 * it down (upstream/health.ts), and every failure is described to the
 * operator (upstream/diagnostics.ts). Only `upstreamOpened` and
 * `upstreamClosed` are wrapped; the relay path's calls go straight to the session's own (bound) methods.
 */
import type { Logger as PinoLogger } from 'pino'
import type { Clock } from '../core/clock.js'
import { NS } from '../core/conditions.js'
import { ClientStream } from '../core/xmpp/client-stream.js'
import type { ClientStreamLink, ClientStreamSettings } from '../core/xmpp/client-stream.js'
import type { Element } from 'ltx'
import type { XmlElement } from '../core/xml/tokenizer.js'
import type { RouteVerdict, UpstreamConnector, UpstreamEnd, UpstreamHeader, UpstreamOpenRequest, UpstreamPort, UpstreamSink } from '../core/xmpp/upstream-port.js'
import type { Logger, SessionLog } from '../observability/logger.js'
import type { SrvResolver, TlsSettings } from './connect.js'
import type { UpstreamDiagnostics } from './diagnostics.js'
import type { UpstreamHealth } from './health.js'
import type { RouteResult, RoutingTable, UpstreamTarget } from './routing.js'
import { describeTarget } from './routing.js'
import { SocketLink } from './socket-link.js'

export interface UpstreamSettings {
  readonly stream: ClientStreamSettings
  readonly tls: TlsSettings
  readonly resolveSrv?: SrvResolver
}

/** What one session adds: its PROXY protocol header and its logger. */
export interface SessionUpstreamContext {
  readonly preamble?: Uint8Array | undefined
  readonly log: SessionLog
}

/** Longest server `<text/>` repeated in an operator line. */
const MAX_SERVER_TEXT = 200

/** The label of the fallback rule. */
export const FALLBACK = '*'

/** Who hears how upstream streams go. */
export interface UpstreamWatchers {
  readonly diagnostics?: UpstreamDiagnostics
  readonly health?: UpstreamHealth
}

/** What a watched stream knows about where it went. */
interface StreamFacts {
  readonly upstream: string
  readonly domain: string
  readonly target: UpstreamTarget
  readonly link: SocketLink | undefined
  /** A probe of the fallback rule names no domain of its own: its refusal says nothing. */
  readonly probe?: boolean
}

interface StreamWatch {
  reached(upstream: string): void
  ended(facts: StreamFacts, end: UpstreamEnd, opened: boolean): void
}

/**
 * A session's UpstreamSink with its stream's first opening and its end also
 * reported to health and diagnostics. A class: a session holds one object,
 * not a closure per sink method.
 */
class WatchedSink implements UpstreamSink {
  #opened = false

  constructor(
    private readonly sink: UpstreamSink,
    private readonly facts: () => StreamFacts | undefined,
    private readonly watch: StreamWatch,
  ) {}

  upstreamOpened(header: UpstreamHeader, features: Element): void {
    if (!this.#opened) {
      this.#opened = true
      const f = this.facts()
      if (f) this.watch.reached(f.upstream)
    }
    this.sink.upstreamOpened(header, features)
  }

  upstreamStanza(stanza: XmlElement): void {
    this.sink.upstreamStanza(stanza)
  }

  upstreamBatchEnd(): void {
    this.sink.upstreamBatchEnd()
  }

  upstreamAuthenticated(): void {
    this.sink.upstreamAuthenticated()
  }

  upstreamAuthFailed(condition: string): void {
    this.sink.upstreamAuthFailed?.(condition)
  }

  upstreamBound(jid: string): void {
    this.sink.upstreamBound?.(jid)
  }

  upstreamWritable(): void {
    this.sink.upstreamWritable()
  }

  upstreamClosed(end: UpstreamEnd): void {
    const f = this.facts()
    if (f) this.watch.ended(f, end, this.#opened)
    this.sink.upstreamClosed(end)
  }
}

export class Upstreams {
  /** Each configured upstream by label (its domain, or `*`), in configuration order. */
  readonly #targets = new Map<string, UpstreamTarget>()
  #watchers: UpstreamWatchers = {}

  constructor(
    private readonly routing: RoutingTable,
    private readonly settings: UpstreamSettings,
    private readonly clock: Clock,
  ) {
    for (const domain of routing.domains) {
      const routed = routing.resolve(domain)
      if (routed.ok) this.#targets.set(domain, routed.target)
    }
    const fallback = routing.rules.find((rule) => rule.domain === FALLBACK)
    if (fallback) this.#targets.set(FALLBACK, fallback.target)
  }

  /** Health and diagnostics, once they exist (they need the labels this class hands out). */
  watch(watchers: UpstreamWatchers): void {
    this.#watchers = watchers
  }

  /** The configured upstreams as labels (each exact domain, then `*`) with their targets, for health and metrics. */
  get labels(): Array<{ upstream: string; target: string }> {
    return [...this.#targets].map(([upstream, target]) => ({ upstream, target: describeTarget(target) }))
  }

  /** A domain as a bounded label: its own rule's domain, or `*` (also for anything unroutable). */
  labelOf(domain: string | undefined): string {
    return domain !== undefined && domain !== FALLBACK && this.#targets.has(domain) ? domain : FALLBACK
  }

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

  /**
   * Open a stream to one configured upstream the way a session would, and
   * close it at its first features. Resolves when it is over; the outcome
   * reaches health and diagnostics like a session's.
   */
  probe(upstream: string, log: PinoLogger): Promise<void> {
    const target = this.#targets.get(upstream)
    if (!target) return Promise.resolve()
    // The fallback serves whatever domains its server hosts; ask for the server's own name.
    const domain = upstream === FALLBACK ? (target.kind === 'srv' ? 'localhost' : target.host) : upstream
    return new Promise<void>((resolve) => {
      let link: SocketLink | undefined
      let stream: ClientStream | undefined
      const done: UpstreamSink = {
        upstreamOpened: () => stream?.close(),
        upstreamStanza: () => {},
        upstreamBatchEnd: () => {},
        upstreamAuthenticated: () => {},
        upstreamWritable: () => {},
        upstreamClosed: () => resolve(),
      }
      const makeLink = (s: ClientStream): ClientStreamLink => {
        link = new SocketLink(s, target, domain, { tls: this.settings.tls, resolveSrv: this.settings.resolveSrv }, log)
        return link
      }
      const watched = this.#watched(done, () => ({ upstream, domain, target, link, probe: upstream === FALLBACK }))
      stream = new ClientStream(this.settings.stream, this.clock, watched, makeLink)
      stream.open({ to: domain })
    })
  }

  #connect(sink: UpstreamSink, context: SessionUpstreamContext): UpstreamPort {
    const linkSettings = { tls: this.settings.tls, resolveSrv: this.settings.resolveSrv, preamble: context.preamble }
    let facts: StreamFacts | undefined
    const makeLink = (stream: ClientStream, request: UpstreamOpenRequest): ClientStreamLink => {
      const routed = this.routing.resolve(request.to)
      // The session routed `to` a moment ago and the table never changes; a miss is a bug, reported like DNS finding nothing.
      if (!routed.ok) return unroutableLink(stream, routed.reason)
      const link = new SocketLink(stream, routed.target, routed.domain, linkSettings, context.log)
      facts = { upstream: this.labelOf(routed.domain), domain: routed.domain, target: routed.target, link }
      return link
    }
    const watchers = this.#watchers
    const target = watchers.diagnostics || watchers.health ? this.#watched(sink, () => facts) : sink
    return new ClientStream(this.settings.stream, this.clock, target, makeLink)
  }

  /** `sink`, with its stream's opening and end reported to health and diagnostics. */
  #watched(sink: UpstreamSink, facts: () => StreamFacts | undefined): UpstreamSink {
    return new WatchedSink(sink, facts, this.#watch)
  }

  /** What every watched stream reports to; one per Upstreams, not one per session. */
  readonly #watch: StreamWatch = {
    reached: (upstream) => this.#watchers.health?.reached(upstream),
    ended: (f, end, opened) => this.#report(f, end, opened, this.#watchers.diagnostics, this.#watchers.health),
  }

  #report(f: StreamFacts, end: UpstreamEnd, opened: boolean, diagnostics: UpstreamDiagnostics | undefined, health: UpstreamHealth | undefined): void {
    const link = f.link
    const endpoint = link?.lastFailure?.endpoint ?? link?.endpoint
    switch (end.kind) {
      case 'failed':
        if (!end.opened) health?.failed(f.upstream, end.cause)
        diagnostics?.failed({
          upstream: f.upstream,
          domain: f.domain,
          target: f.target,
          endpoint,
          cause: end.cause,
          opened: end.opened,
          detail: end.detail,
          tls: end.cause === 'tls' ? link?.lastFailure?.tls : undefined,
          text: end.text,
        })
        return
      case 'stream-error': {
        if (opened || f.probe) return
        // Alive, but it turned this stream away before offering anything: a configuration matter.
        health?.reached(f.upstream)
        const text = end.error.getChildText('text', NS.streams) ?? undefined
        diagnostics?.refused({
          upstream: f.upstream,
          domain: f.domain,
          target: f.target,
          endpoint,
          condition: end.condition,
          serverText: text === undefined ? undefined : text.slice(0, MAX_SERVER_TEXT),
          secure: link?.encrypted ?? false,
        })
        return
      }
      case 'closed':
      case 'auth-timeout':
        return
    }
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
