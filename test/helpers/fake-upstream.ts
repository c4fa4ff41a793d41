/**
 * A scriptable XMPP server for fault tests: it answers the stream header
 * with features and then does whatever the test tells it, including
 * misbehaving (flooding, not reading, vanishing).
 */
import net from 'node:net'

export interface FakeConnection {
  readonly socket: net.Socket
  /** Everything the client (Causeway) sent, as text. */
  received(): string
}

export interface FakeUpstream {
  readonly port: number
  readonly connections: FakeConnection[]
  /** Resolves with the next connection whose stream header has been answered. */
  nextOpened(): Promise<FakeConnection>
  close(): Promise<void>
}

/** RFC 6120 SASL with PLAIN: what the fake offers unless told otherwise. */
export const SASL_FEATURES =
  "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"

/** `features`: the <stream:features/> it answers every stream header with. */
export async function startFakeUpstream(domain = 'localhost', features = SASL_FEATURES): Promise<FakeUpstream> {
  const connections: FakeConnection[] = []
  const waiting: Array<(c: FakeConnection) => void> = []
  const opened: FakeConnection[] = []
  const server = net.createServer((socket) => {
    let text = ''
    let answered = false
    const connection: FakeConnection = { socket, received: () => text }
    connections.push(connection)
    socket.on('error', () => {})
    socket.on('data', (chunk) => {
      text += chunk.toString('utf8')
      if (!answered && text.includes('<stream:stream')) {
        answered = true
        socket.write(
          `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='${domain}' id='fake-${connections.length}' version='1.0'>${features}`,
        )
        const waiter = waiting.shift()
        if (waiter) waiter(connection)
        else opened.push(connection)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    nextOpened: () =>
      new Promise((resolve) => {
        const ready = opened.shift()
        if (ready) resolve(ready)
        else waiting.push(resolve)
      }),
    close: () =>
      new Promise((resolve) => {
        for (const c of connections) c.socket.destroy()
        server.close(() => resolve())
      }),
  }
}
