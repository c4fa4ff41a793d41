// Minimal typings for the parts of @xmpp/client the tests use.
declare module '@xmpp/client' {
  import type { Element } from 'ltx'
  export interface XmppClient {
    start(): Promise<{ toString(): string }>
    stop(): Promise<void>
    send(...elements: Element[]): Promise<void>
    on(event: string, listener: (...args: any[]) => void): this
    once(event: string, listener: (...args: any[]) => void): this
    status: string
    reconnect: { stop(): void }
    iqCaller: { request(element: Element, timeoutMs?: number): Promise<Element>; get(element: Element, to?: string): Promise<Element> }
    streamManagement: { enabled: boolean; id: string; outbound: number; inbound: number }
    websocket: unknown
    socket: { socket?: { close(): void; terminate?(): void } } | null
  }
  export function client(options: Record<string, unknown>): XmppClient
  export function xml(name: string, attrs?: Record<string, string | number | undefined> | null, ...children: Array<Element | string>): Element
  export function jid(address: string): { toString(): string; bare(): { toString(): string } }
}
