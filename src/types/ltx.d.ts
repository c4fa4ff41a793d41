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
  /** ltx's SAX tokenizer: emits startElement(name, attrs), endElement(name, selfClosing), text(str). */
  export interface SaxTokenizer {
    on(event: 'startElement', listener: (name: string, attrs: Record<string, string>) => void): this
    on(event: 'endElement', listener: (name: string) => void): this
    on(event: 'text', listener: (text: string) => void): this
    removeAllListeners(): this
    write(data: string): void
    end(data?: string): void
  }
  /** The tree builder; its prototype names the SAX tokenizer it uses by default. */
  export class Parser {
    DefaultParser: new () => SaxTokenizer
  }
  export function escapeXML(s: string): string
  export function escapeXMLText(s: string): string
  export function parse(s: string): Element
}
