/**
 * A deliberately small XMPP client for the load generator: one logged-in
 * stream over raw TCP (RFC 6120) or over WebSocket (RFC 7395), SASL PLAIN
 * and resource binding only. No reconnects, no stream management, no TLS:
 * everything here runs against 127.0.0.1.
 *
 * Cheaper than @xmpp/client (no middleware, no SCRAM in JS, one ltx SAX
 * tokenizer per TCP stream), so the load generator spends its CPU on the
 * benchmark's messages rather than on client machinery.
 */
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { Element, parse as parseXml } from 'ltx'
import { Parser } from 'ltx'
import type { SaxTokenizer } from 'ltx'

const SaxLtx = Parser.prototype.DefaultParser
import { WebSocket } from 'ws'
import { BoshTransport } from './bosh-transport.js'

const NS_STREAM = 'http://etherx.jabber.org/streams'
const NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing'
const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl'
const NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind'

export type LinkKind = 'tcp' | 'ws' | 'bosh'

/** What the link reports to its owner once the stream is up. */
export interface LinkEvents {
  /** A top-level element (stanza or stream-level element) arrived. */
  element(element: Element): void
  /** The stream or the connection ended; `error` describes an unexpected end. */
  closed(error: string | undefined): void
}

/** The byte-level part that differs between TCP, WebSocket and BOSH. */
export interface Transport {
  /** Send a stream header (TCP) or `<open/>` (WebSocket); also resets the parser on TCP. */
  openStream(domain: string): void
  send(xml: string): void
  /** Send `</stream:stream>` or `<close/>`. */
  closeStream(): void
  /** After both sides closed the XML stream: end the connection normally. */
  finish(): void
  destroy(): void
  /** Close connections that carry nothing now (BOSH keep-alive sockets beyond the held request). */
  trimIdle?(): void
}

export interface TransportSink {
  element(element: Element): void
  /** The peer ended the XML stream (`</stream:stream>` or `<close/>`). */
  streamEnd(): void
  /** The connection is gone. */
  gone(error: string | undefined): void
}

/** One RFC 6120 stream: children of the root come out as ltx elements. */
class TcpTransport implements Transport {
  #sax: SaxTokenizer | undefined
  #generation = 0

  constructor(private readonly socket: Socket, private readonly sink: TransportSink) {
    socket.setEncoding('utf8') // keeps multibyte characters split across reads intact
    socket.on('data', (chunk: string) => {
      try {
        this.#sax?.write(chunk)
      } catch (error) {
        sink.gone(`XML from server not parsed: ${(error as Error).message}`)
        socket.destroy()
      }
    })
    socket.on('error', (error) => sink.gone(`socket error: ${error.message}`))
    socket.on('close', () => sink.gone(undefined))
  }

  static connect(port: number, sink: TransportSink, timeoutMs: number): Promise<TcpTransport> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, noDelay: true })
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new Error(`TCP connect to 127.0.0.1:${port} timed out`))
      }, timeoutMs)
      socket.once('error', (error) => {
        clearTimeout(timer)
        reject(error)
      })
      socket.once('connect', () => {
        clearTimeout(timer)
        socket.removeAllListeners('error')
        resolve(new TcpTransport(socket, sink))
      })
    })
  }

  openStream(domain: string): void {
    this.#sax = this.#newSax()
    this.socket.write(
      `<?xml version='1.0'?><stream:stream to='${domain}' version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='${NS_STREAM}'>`,
    )
  }

  #newSax(): SaxTokenizer {
    const generation = ++this.#generation
    const sax = new SaxLtx()
    let depth = 0
    let cursor: Element | undefined
    sax.on('startElement', (name: string, attrs: Record<string, string>) => {
      if (generation !== this.#generation) return
      depth++
      if (depth === 1) return // the stream header: nothing in it matters here
      const element = new Element(name, attrs)
      if (cursor) cursor.cnode(element)
      cursor = element
    })
    sax.on('endElement', () => {
      if (generation !== this.#generation) return
      depth--
      if (depth === 0) {
        this.sink.streamEnd()
        return
      }
      const element = cursor
      if (!element) return
      cursor = element.parent ?? undefined
      if (depth === 1) {
        cursor = undefined
        // Stanzas on a stream inherit the stream's default namespace.
        if (element.attrs.xmlns === undefined && !element.name.includes(':')) element.attrs.xmlns = 'jabber:client'
        // ...and `stream:` elements the prefix declared on the (discarded) stream header.
        if (element.name.startsWith('stream:')) element.attrs['xmlns:stream'] ??= NS_STREAM
        this.sink.element(element)
      }
    })
    sax.on('text', (text: string) => {
      if (generation !== this.#generation) return
      if (cursor) cursor.t(text)
    })
    return sax
  }

  send(xml: string): void {
    this.socket.write(xml)
  }

  closeStream(): void {
    // RFC 6120 §4.4: send the close tag, then wait for the peer's before ending the connection.
    if (this.socket.writable) this.socket.write('</stream:stream>')
  }

  finish(): void {
    if (this.socket.writable) this.socket.end()
  }

  destroy(): void {
    this.socket.destroy()
  }
}

/** RFC 7395: every WebSocket message is one complete XML document. */
class WsTransport implements Transport {
  constructor(private readonly socket: WebSocket, private readonly sink: TransportSink) {
    socket.on('message', (data, isBinary) => {
      if (isBinary) {
        sink.gone('binary WebSocket frame from server')
        socket.terminate()
        return
      }
      const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8')
      let element: Element
      try {
        element = parseXml(text)
      } catch (error) {
        sink.gone(`WebSocket message not parsed: ${(error as Error).message}: ${text.slice(0, 200)}`)
        socket.terminate()
        return
      }
      const name = element.getName()
      if (name === 'open' && element.attrs.xmlns === NS_FRAMING) return
      if (name === 'close' && element.attrs.xmlns === NS_FRAMING) {
        sink.streamEnd()
        return
      }
      sink.element(element)
    })
    socket.on('error', (error) => sink.gone(`WebSocket error: ${error.message}`))
    socket.on('close', (code, reason) => sink.gone(code === 1000 || code === 1001 ? undefined : `WebSocket closed ${code} ${reason.toString()}`))
  }

  static connect(url: string, sink: TransportSink, timeoutMs: number): Promise<WsTransport> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, ['xmpp'], { perMessageDeflate: false, handshakeTimeout: timeoutMs })
      socket.once('unexpected-response', (_request, response) => {
        reject(new Error(`WebSocket upgrade refused: HTTP ${response.statusCode}`))
        socket.terminate()
      })
      socket.once('error', reject)
      socket.once('open', () => {
        socket.off('error', reject)
        resolve(new WsTransport(socket, sink))
      })
    })
  }

  openStream(domain: string): void {
    this.socket.send(`<open xmlns='${NS_FRAMING}' to='${domain}' version='1.0' xml:lang='en'/>`)
  }

  send(xml: string): void {
    this.socket.send(xml)
  }

  closeStream(): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(`<close xmlns='${NS_FRAMING}'/>`)
  }

  finish(): void {
    // RFC 7395 §3.6: after the <close/> exchange the client closes the WebSocket.
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close(1000)
  }

  destroy(): void {
    this.socket.terminate()
  }
}

export interface LoginOptions {
  readonly kind: LinkKind
  /** TCP: the c2s port on 127.0.0.1. */
  readonly port?: number
  /** WebSocket: ws://127.0.0.1:PORT/xmpp-websocket; BOSH: http://127.0.0.1:PORT/http-bind. */
  readonly url?: string
  /** BOSH: after the creation, spread requests over these URLs (bosh-transport.ts). */
  readonly spread?: readonly string[]
  readonly domain: string
  readonly username: string
  readonly password: string
  readonly resource: string
  readonly timeoutMs: number
  /** Send an initial `<presence/>` once bound, like a real client (default true). */
  readonly presence?: boolean
  /** BOSH: the `wait` asked for, seconds (default 30). */
  readonly boshWaitSeconds?: number
}

/**
 * A logged-in XMPP session. Until login completes, elements are queued for
 * the login steps; afterwards they go to `events`.
 */
export class XmppLink implements TransportSink {
  #transport: Transport | undefined
  #queue: Element[] = []
  #waiter: ((element: Element | undefined) => void) | undefined
  #events: LinkEvents | undefined
  #ended = false
  #endError: string | undefined
  #streamEnded = false
  #goneWaiters: Array<() => void> = []
  jid = ''

  private constructor(readonly kind: LinkKind) {}

  static async login(options: LoginOptions): Promise<XmppLink> {
    const link = new XmppLink(options.kind)
    const timer = setTimeout(() => link.gone(`login timed out after ${options.timeoutMs} ms`), options.timeoutMs)
    try {
      link.#transport =
        options.kind === 'tcp'
          ? await TcpTransport.connect(options.port ?? 5222, link, options.timeoutMs)
          : options.kind === 'ws'
            ? await WsTransport.connect(options.url ?? '', link, options.timeoutMs)
            : new BoshTransport(
                {
                  url: options.url ?? '',
                  ...(options.boshWaitSeconds !== undefined ? { waitSeconds: options.boshWaitSeconds } : {}),
                  ...(options.spread ? { spread: options.spread } : {}),
                },
                link,
              )
      await link.#login(options)
      return link
    } catch (error) {
      link.destroy()
      throw new Error(`${options.kind} login of ${options.username}: ${(error as Error).message}`)
    } finally {
      clearTimeout(timer)
    }
  }

  async #login(options: LoginOptions): Promise<void> {
    const transport = this.#transport!
    transport.openStream(options.domain)
    const features = await this.#next('stream features')
    const mechanisms = features.getChild('mechanisms', NS_SASL)?.getChildren('mechanism').map((m) => m.getText()) ?? []
    if (!mechanisms.includes('PLAIN')) throw new Error(`server does not offer SASL PLAIN (offers ${mechanisms.join(' ') || 'nothing'})`)
    const credentials = Buffer.from(`\0${options.username}\0${options.password}`, 'utf8').toString('base64')
    transport.send(`<auth xmlns='${NS_SASL}' mechanism='PLAIN'>${credentials}</auth>`)
    const outcome = await this.#next('SASL outcome')
    if (outcome.getName() !== 'success') throw new Error(`SASL PLAIN failed: ${outcome.toString()}`)

    transport.openStream(options.domain)
    const restarted = await this.#next('stream features after SASL')
    if (!restarted.getChild('bind', NS_BIND)) throw new Error(`no resource binding offered: ${restarted.toString()}`)
    // Stanzas carry xmlns='jabber:client': RFC 7395 §3.3.3 (each WebSocket message stands alone) and
    // XEP-0206 §7 want it, and on a TCP stream it restates the default namespace.
    transport.send(`<iq type='set' id='bind1' xmlns='jabber:client'><bind xmlns='${NS_BIND}'><resource>${options.resource}</resource></bind></iq>`)
    const bound = await this.#next('bind result')
    const jid = bound.getChild('bind', NS_BIND)?.getChildText('jid')
    if (bound.attrs.type !== 'result' || !jid) throw new Error(`bind failed: ${bound.toString()}`)
    this.jid = jid
    // Available, like a real client: the server echoes it back, which the owner ignores.
    if (options.presence !== false) transport.send(`<presence xmlns='jabber:client'/>`)
  }

  #next(what: string): Promise<Element> {
    const queued = this.#queue.shift()
    if (queued) return Promise.resolve(queued)
    if (this.#ended) return Promise.reject(new Error(`connection ended while waiting for ${what}: ${this.#endError ?? 'closed'}`))
    return new Promise((resolve, reject) => {
      this.#waiter = (element) => {
        this.#waiter = undefined
        if (element) resolve(element)
        else reject(new Error(`connection ended while waiting for ${what}: ${this.#endError ?? 'closed'}`))
      }
    })
  }

  /** Hand every further element to `events` (queued ones first). */
  attach(events: LinkEvents): void {
    this.#events = events
    for (const element of this.#queue.splice(0)) events.element(element)
    if (this.#ended) events.closed(this.#endError)
  }

  send(xml: string): void {
    this.#transport?.send(xml)
  }

  get ended(): boolean {
    return this.#ended
  }

  /** Close the stream politely and wait (bounded) for the peer to close too. Resolves true if it did. */
  async close(timeoutMs: number): Promise<boolean> {
    if (this.#ended) return this.#endError === undefined
    this.#closing = true
    this.#transport?.closeStream()
    const gone = new Promise<void>((resolve) => this.#goneWaiters.push(resolve))
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs)))
    const late = await Promise.race([gone.then(() => false), timedOut])
    clearTimeout(timer)
    if (late) this.destroy()
    return !late && this.#streamEnded
  }
  #closing = false

  destroy(): void {
    this.#transport?.destroy()
  }

  /** BOSH: keep only the connection of the held request open (idle sessions, one descriptor each). */
  trimIdleConnections(): void {
    this.#transport?.trimIdle?.()
  }

  // ── TransportSink ──────────────────────────────────────────────────────

  element(element: Element): void {
    if (this.#ended) return
    if (element.getName() === 'error' && element.getNS() === NS_STREAM) {
      this.gone(`stream error: ${element.toString()}`)
      return
    }
    if (this.#events) {
      this.#events.element(element)
      return
    }
    if (this.#waiter) this.#waiter(element)
    else this.#queue.push(element)
  }

  streamEnd(): void {
    this.#streamEnded = true
    if (this.#closing) {
      // Our close was answered: end the connection the normal way.
      this.#transport?.finish()
      return
    }
    this.gone('the server ended the stream')
    this.#transport?.closeStream()
  }

  gone(error: string | undefined): void {
    if (this.#ended) return
    this.#ended = true
    this.#endError = error ?? (this.#closing || this.#streamEnded ? undefined : 'connection closed without </stream:stream>')
    if (error !== undefined) this.#transport?.destroy()
    this.#waiter?.(undefined)
    this.#events?.closed(this.#endError)
    for (const resolve of this.#goneWaiters.splice(0)) resolve()
  }
}
