/**
 * A spec-following subset of XMLHttpRequest for Strophe's BOSH transport in
 * Node: asynchronous POST/GET over node:http (or node:https for https://
 * URLs) with a keep-alive agent (as a browser would reuse connections),
 * responseXML parsed by @xmldom/xmldom.
 *
 * `NodeXMLHttpRequest.dropResponse` lets a test lose a response on the way
 * back, the way a flaky network would, to exercise BOSH retransmission.
 */
import http from 'node:http'
import https from 'node:https'
import { DOMParser } from '@xmldom/xmldom'

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })

type Listener = () => void

export class NodeXMLHttpRequest {
  static readonly UNSENT = 0
  static readonly OPENED = 1
  static readonly HEADERS_RECEIVED = 2
  static readonly LOADING = 3
  static readonly DONE = 4

  /** Return true to throw away the response to this request body (the server still processed it). */
  static dropResponse: ((requestBody: string) => boolean) | undefined
  /** Every request body sent, for assertions. */
  static readonly sent: string[] = []
  /** The agent for https:// URLs; a test whose server has a private CA sets one with `ca`. */
  static httpsAgent: https.Agent = new https.Agent({ keepAlive: true, maxSockets: 8 })

  readyState = 0
  status = 0
  statusText = ''
  responseText = ''
  responseXML: Document | null = null
  withCredentials = false
  timeout = 0
  onreadystatechange: Listener | null = null
  onerror: Listener | null = null
  onload: Listener | null = null

  #method = 'GET'
  #url = ''
  #headers: Record<string, string> = {}
  #responseHeaders: http.IncomingHttpHeaders = {}
  #request: http.ClientRequest | undefined
  #aborted = false

  open(method: string, url: string, async = true): void {
    if (!async) throw new Error('synchronous XMLHttpRequest is not supported')
    this.#method = method
    this.#url = url
    this.#setState(NodeXMLHttpRequest.OPENED)
  }

  setRequestHeader(name: string, value: string): void {
    this.#headers[name.toLowerCase()] = value
  }

  overrideMimeType(_mime: string): void {}

  getAllResponseHeaders(): string {
    return Object.entries(this.#responseHeaders)
      .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : (v ?? '')}`)
      .join('\r\n')
  }

  getResponseHeader(name: string): string | null {
    const value = this.#responseHeaders[name.toLowerCase()]
    return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value
  }

  send(body?: string | null): void {
    const payload = body ?? ''
    NodeXMLHttpRequest.sent.push(payload)
    const drop = NodeXMLHttpRequest.dropResponse?.(payload) ?? false
    const url = new URL(this.#url)
    const secure = url.protocol === 'https:'
    const request = (secure ? https : http).request(
      {
        agent: secure ? NodeXMLHttpRequest.httpsAgent : agent,
        method: this.#method,
        hostname: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        headers: { ...this.#headers, 'content-length': String(Buffer.byteLength(payload)) },
      },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => {
          if (this.#aborted) return
          if (drop) return this.#fail()
          this.status = response.statusCode ?? 0
          this.statusText = response.statusMessage ?? ''
          this.#responseHeaders = response.headers
          this.#setState(NodeXMLHttpRequest.HEADERS_RECEIVED)
          this.responseText = Buffer.concat(chunks).toString('utf8')
          this.#setState(NodeXMLHttpRequest.LOADING)
          this.responseXML = this.#parse(this.responseText)
          this.#setState(NodeXMLHttpRequest.DONE)
          this.onload?.()
        })
        response.on('error', () => this.#fail())
      },
    )
    this.#request = request
    request.on('error', () => this.#fail())
    request.end(payload)
  }

  abort(): void {
    this.#aborted = true
    this.#request?.destroy()
    this.readyState = NodeXMLHttpRequest.UNSENT
  }

  #parse(text: string): Document | null {
    const type = String(this.#responseHeaders['content-type'] ?? '')
    if (!text || !/xml/.test(type)) return null
    try {
      return new DOMParser().parseFromString(text, 'text/xml') as unknown as Document
    } catch {
      return null
    }
  }

  #fail(): void {
    if (this.#aborted) return
    this.status = 0
    this.responseText = ''
    this.responseXML = null
    this.#setState(NodeXMLHttpRequest.DONE)
    this.onerror?.()
  }

  #setState(state: number): void {
    this.readyState = state
    this.onreadystatechange?.()
  }
}

/** Install the shim as the global XMLHttpRequest (Node has none). */
export function installXhrShim(): void {
  ;(globalThis as unknown as { XMLHttpRequest: unknown }).XMLHttpRequest = NodeXMLHttpRequest
}
