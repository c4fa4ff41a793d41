/**
 * A bare RFC 7395 client over `ws`, for tests that need to send exactly
 * the bytes they mean (hostile input, framing checks).
 */
import { WebSocket } from 'ws'
import type { ClientOptions } from 'ws'

export interface RawClient {
  readonly socket: WebSocket
  readonly messages: string[]
  /** RFC 7395 §3.2: XMPP travels in text frames; how many binary frames the server sent. */
  readonly binaryFrames: () => number
  /** Resolves with the close code once the socket is closed. */
  readonly closed: Promise<{ code: number; reason: string }>
  send(data: string | Buffer, binary?: boolean): void
  /** Wait until at least `count` messages arrived (or the socket closed). */
  waitFor(count: number, timeoutMs?: number): Promise<string[]>
  /** Wait for a message matching the pattern. */
  waitForMatch(pattern: RegExp, timeoutMs?: number): Promise<string>
}

export const OPEN = (to = 'localhost') => `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='${to}' version='1.0'/>`
export const CLOSE = "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"

export function rawClient(url: string, protocols: string[] = ['xmpp'], options: ClientOptions = {}): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols, options)
    const messages: string[] = []
    const waiters = new Set<() => void>()
    const wake = () => {
      for (const waiter of [...waiters]) waiter()
    }
    const closed = new Promise<{ code: number; reason: string }>((resolveClosed) => {
      socket.on('close', (code, reason) => {
        resolveClosed({ code, reason: reason.toString() })
        wake()
      })
    })
    let binaryFrames = 0
    socket.on('message', (data, isBinary) => {
      if (isBinary) binaryFrames += 1
      messages.push(data.toString())
      wake()
    })
    socket.once('unexpected-response', (_request, response) => {
      reject(Object.assign(new Error(`HTTP ${response.statusCode}`), { statusCode: response.statusCode, headers: response.headers }))
    })
    socket.once('error', reject)
    socket.once('open', () => {
      socket.off('error', reject)
      socket.on('error', () => {})
      const until = <T>(ready: () => T | undefined, timeoutMs: number, what: string) =>
        new Promise<T>((resolveWait, rejectWait) => {
          const check = () => {
            const value = ready()
            if (value !== undefined) {
              waiters.delete(check)
              clearTimeout(timer)
              resolveWait(value)
            } else if (socket.readyState === socket.CLOSED) {
              waiters.delete(check)
              clearTimeout(timer)
              rejectWait(new Error(`socket closed while waiting for ${what}; got ${JSON.stringify(messages)}`))
            }
          }
          const timer = setTimeout(() => {
            waiters.delete(check)
            rejectWait(new Error(`timed out waiting for ${what}; got ${JSON.stringify(messages)}`))
          }, timeoutMs)
          waiters.add(check)
          check()
        })
      resolve({
        socket,
        messages,
        binaryFrames: () => binaryFrames,
        closed,
        send: (data, binary = false) => socket.send(data, { binary }),
        waitFor: (count, timeoutMs = 5000) =>
          until(() => (messages.length >= count || socket.readyState === socket.CLOSED ? [...messages] : undefined), timeoutMs, `${count} messages`),
        waitForMatch: (pattern, timeoutMs = 5000) => until(() => messages.find((m) => pattern.test(m)), timeoutMs, String(pattern)),
      })
    })
  })
}
