/**
 * BOSH (XEP-0124 v1.11 with XEP-0206) as a `Transport` for the load
 * generator's XmppLink, so the same login and exchange code runs over it.
 *
 * One session = one keep-alive http.Agent (3 sockets: the two requests the
 * session may have in flight, plus the extra one XEP-0124 §11 allows for a
 * terminate). At most `requests` (≤ 2) requests are in flight: normally one
 * is held by the connection manager and outgoing stanzas go in the second,
 * batched (everything sent in the same tick goes in one body). An empty
 * request is only sent when nothing at all is in flight, so the client never
 * keeps every slot busy with empty requests (§11 "too frequent").
 */
import http from 'node:http'
import { randomInt } from 'node:crypto'
import { Element, parse as parseXml } from 'ltx'
import type { Transport, TransportSink } from './xmpp-link.js'

export const NS_HTTPBIND = 'http://jabber.org/protocol/httpbind'
export const NS_XBOSH = 'urn:xmpp:xbosh'
const NS_STREAM = 'http://etherx.jabber.org/streams'

/** A random first rid, far enough below 2^53 that it never runs out (XEP-0124 §14.1). */
export function firstRid(): number {
  return randomInt(1, 2 ** 32) * 1024
}

export interface PostResult {
  readonly status: number
  readonly text: string
}

/** One POST of a BOSH body; resolves on any HTTP response, rejects on transport errors and the timeout. */
export function postBody(agent: http.Agent, url: URL, body: string, timeoutMs: number, track?: Set<http.ClientRequest>): Promise<PostResult> {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(body, 'utf8')
    const request = http.request(
      {
        agent,
        method: 'POST',
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        headers: { 'Content-Type': 'text/xml; charset=utf-8', 'Content-Length': payload.length },
      },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => {
          track?.delete(request)
          resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') })
        })
        response.on('error', (error) => {
          track?.delete(request)
          reject(error)
        })
      },
    )
    track?.add(request)
    request.setTimeout(timeoutMs, () => request.destroy(new Error(`no HTTP response within ${timeoutMs} ms`)))
    request.on('error', (error) => {
      track?.delete(request)
      reject(error)
    })
    request.end(payload)
  })
}

export interface BoshTransportOptions {
  /** http://127.0.0.1:PORT/http-bind */
  readonly url: string
  /**
   * Several equivalent URLs (nodes that forward to each other): after the
   * creation, each request goes to one of them at random, as requests do
   * when connections are spread over processes by the kernel.
   */
  readonly spread?: readonly string[]
  /** The `wait` asked for, seconds. */
  readonly waitSeconds?: number
}

export class BoshTransport implements Transport {
  readonly #url: URL
  readonly #spread: readonly URL[]
  readonly #agent: http.Agent
  readonly #wait: number
  readonly #live = new Set<http.ClientRequest>()
  #rid = firstRid()
  #sid: string | undefined
  #requests = 2
  #inFlight = 0
  #queue: string[] = []
  #restartPending = false
  #domain = ''
  #flushScheduled = false
  #closing = false
  #ended = false

  constructor(options: BoshTransportOptions, private readonly sink: TransportSink) {
    this.#url = new URL(options.url)
    this.#spread = (options.spread ?? []).map((u) => new URL(u))
    this.#wait = options.waitSeconds ?? 30
    this.#agent = new http.Agent({ keepAlive: true, maxSockets: 3, maxFreeSockets: 3 })
  }

  openStream(domain: string): void {
    this.#domain = domain
    if (this.#sid === undefined) {
      this.#post(
        `<body content='text/xml; charset=utf-8' hold='1' rid='${this.#rid}' to='${domain}' ver='1.11' wait='${this.#wait}' ` +
          `xml:lang='en' xmpp:version='1.0' xmlns='${NS_HTTPBIND}' xmlns:xmpp='${NS_XBOSH}'/>`,
      )
      return
    }
    // XEP-0206 §5: after SASL success, a restart request (on its own, no payload).
    this.#restartPending = true
    this.#pump()
  }

  send(xml: string): void {
    if (this.#ended) return
    this.#queue.push(xml)
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    // Everything sent in this tick (the exchange sends a window's worth at once) goes in one body.
    queueMicrotask(() => {
      this.#flushScheduled = false
      this.#pump()
    })
  }

  closeStream(): void {
    if (this.#ended || this.#closing || this.#sid === undefined) return
    this.#closing = true
    const payload = this.#queue.splice(0).join('')
    // XEP-0124 §11 allows one request beyond `requests` for a terminate.
    this.#post(`<body rid='${++this.#rid}' sid='${this.#sid}' type='terminate' xmlns='${NS_HTTPBIND}'>${payload}<presence type='unavailable' xmlns='jabber:client'/></body>`)
  }

  finish(): void {
    this.#shutdown()
    this.sink.gone(undefined)
  }

  destroy(): void {
    this.#shutdown()
    this.sink.gone(undefined)
  }

  /** Close the keep-alive sockets no request is using (the held request keeps its own). */
  trimIdle(): void {
    for (const sockets of Object.values(this.#agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy()
  }

  #shutdown(): void {
    this.#ended = true
    for (const request of this.#live) request.destroy()
    this.#live.clear()
    this.#agent.destroy()
  }

  #pump(): void {
    if (this.#sid === undefined || this.#ended || this.#closing) return
    const sid = this.#sid
    if (this.#restartPending && this.#queue.length === 0 && this.#inFlight < this.#requests) {
      this.#restartPending = false
      this.#post(
        `<body rid='${++this.#rid}' sid='${sid}' to='${this.#domain}' xml:lang='en' xmpp:restart='true' xmlns='${NS_HTTPBIND}' xmlns:xmpp='${NS_XBOSH}'/>`,
      )
    }
    if (this.#queue.length > 0 && this.#inFlight < this.#requests) {
      this.#post(`<body rid='${++this.#rid}' sid='${sid}' xmlns='${NS_HTTPBIND}'>${this.#queue.splice(0).join('')}</body>`)
    }
    // Keep one request with the connection manager, so it can push stanzas to us.
    if (this.#inFlight === 0) this.#post(`<body rid='${++this.#rid}' sid='${sid}' xmlns='${NS_HTTPBIND}'/>`)
  }

  /** The body's rid must be the current value of #rid (each caller increments it first). */
  #post(body: string): void {
    const rid = this.#rid
    this.#inFlight++
    const url = this.#sid === undefined || this.#spread.length === 0 ? this.#url : (this.#spread[Math.floor(Math.random() * this.#spread.length)] ?? this.#url)
    postBody(this.#agent, url, body, (this.#wait + 15) * 1000, this.#live).then(
      (result) => {
        if (this.#ended) return
        // XEP-0124 §14: responses are processed in rid order. Two requests travel on two connections,
        // so the later rid's response can be read first; it waits for the earlier one.
        this.#arrived.set(rid, result)
        this.#nextToProcess ??= rid
        for (let next = this.#arrived.get(this.#nextToProcess); next !== undefined; next = this.#arrived.get(this.#nextToProcess)) {
          this.#arrived.delete(this.#nextToProcess)
          this.#nextToProcess++
          this.#inFlight--
          this.#response(next)
          if (this.#ended) return
        }
      },
      (error: Error) => {
        this.#inFlight--
        if (this.#ended) return
        this.#fail(`BOSH request failed: ${error.message}`)
      },
    )
  }
  readonly #arrived = new Map<number, PostResult>()
  /** The rid whose response is processed next; the creation rid to begin with. */
  #nextToProcess: number | undefined

  #fail(reason: string): void {
    this.#shutdown()
    this.sink.gone(reason)
  }

  #response({ status, text }: PostResult): void {
    if (status !== 200) {
      this.#fail(`BOSH HTTP ${status}: ${text.slice(0, 200)}`)
      return
    }
    let body: Element
    try {
      body = parseXml(text)
    } catch (error) {
      this.#fail(`BOSH response not parsed: ${(error as Error).message}: ${text.slice(0, 200)}`)
      return
    }
    if (body.getName() !== 'body' || body.attrs.xmlns !== NS_HTTPBIND) {
      this.#fail(`BOSH response is not an httpbind <body/>: ${text.slice(0, 200)}`)
      return
    }
    if (this.#sid === undefined) {
      const sid = body.attrs.sid
      if (!sid) {
        this.#fail(`BOSH session creation refused: ${text.slice(0, 300)}`)
        return
      }
      this.#sid = sid
      const requests = Number(body.attrs.requests)
      if (Number.isInteger(requests) && requests >= 1) this.#requests = Math.min(2, requests)
    }
    for (const child of body.children) {
      if (typeof child === 'string') continue
      if (this.#ended) return
      child.parent = null
      if (child.name.startsWith('stream:')) child.attrs['xmlns:stream'] ??= body.findNS('stream') ?? NS_STREAM
      else if (!child.name.includes(':') && (child.attrs.xmlns === undefined || child.attrs.xmlns === NS_HTTPBIND)) child.attrs.xmlns = 'jabber:client'
      this.sink.element(child)
    }
    if (this.#ended) return
    if (body.attrs.type === 'terminate') {
      const condition = body.attrs.condition
      if (condition === undefined) {
        this.sink.streamEnd()
        // If our own terminate was answered, streamEnd() led to finish(). Otherwise the session is over anyway.
        if (!this.#ended) this.#fail('the connection manager ended the BOSH session (type=terminate, no condition)')
      } else {
        this.#fail(`BOSH session terminated with condition='${condition}'`)
      }
      return
    }
    this.#pump()
  }
}
