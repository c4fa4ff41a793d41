// Minimal typings for the parts of ltx 3 that Causeway uses.
declare module 'ltx' {
  export type Node = Element | string
  export class Element {
    constructor(name: string, attrs?: Record<string, string | number | undefined | null>)
    name: string
    parent: Element | null
    children: Node[]
    attrs: Record<string, string>
    is(name: string, xmlns?: string): boolean
    getName(): string
    getNS(): string | undefined
    findNS(prefix?: string): string | undefined
    getAttr(name: string, xmlns?: string): string | undefined
    getChild(name: string, xmlns?: string): Element | undefined
    getChildren(name: string, xmlns?: string): Element[]
    getChildElements(): Element[]
    getText(): string
    getChildText(name: string, xmlns?: string): string | null
    c(name: string, attrs?: Record<string, string | number | undefined | null>): Element
    cnode(child: Element): Element
    append(...nodes: Node[]): this
    t(text: string): this
    remove(el: Element | string, xmlns?: string): this
    attr(name: string, value?: string): string | this
    up(): Element
    root(): Element
    toString(): string
    write(writer: (chunk: string) => void): void
  }
  export function escapeXML(s: string): string
  export function escapeXMLText(s: string): string
  export function parse(s: string): Element
}

declare module 'ltx/src/parsers/ltx.js' {
  import { EventEmitter } from 'node:events'
  /** ltx's SAX tokenizer: emits startElement(name, attrs), endElement(name, selfClosing), text(str). */
  export default class SaxLtx extends EventEmitter {
    write(data: string): void
    end(data?: string): void
  }
}
