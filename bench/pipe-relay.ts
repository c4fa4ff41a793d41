/**
 * The floor for any relay written on Node's sockets: a TCP proxy that does
 * nothing but copy bytes each way (`socket.pipe`), no parsing, no framing,
 * Nagle off like Causeway's sockets. The `tcp-pipe` benchmark path runs
 * direct-TCP XMPP through it, so its CPU per stanza is what the kernel and
 * libuv cost for the reads and writes a relay cannot avoid.
 *
 *   node --import tsx bench/pipe-relay.ts UPSTREAM_PORT   (prints "port N" once listening)
 */
import net from 'node:net'

const upstreamPort = Number(process.argv[2])
if (!Number.isInteger(upstreamPort) || upstreamPort <= 0) {
  process.stderr.write('usage: pipe-relay.ts UPSTREAM_PORT\n')
  process.exit(2)
}

const open = new Set<net.Socket>()

const server = net.createServer((client) => {
  const upstream = net.connect({ host: '127.0.0.1', port: upstreamPort })
  for (const socket of [client, upstream]) {
    socket.setNoDelay(true)
    open.add(socket)
    socket.on('close', () => open.delete(socket))
  }
  const both = () => {
    client.destroy()
    upstream.destroy()
  }
  client.on('error', both).on('close', both)
  upstream.on('error', both).on('close', both)
  client.pipe(upstream)
  upstream.pipe(client)
})

server.listen(0, '127.0.0.1', () => {
  const address = server.address() as net.AddressInfo
  process.stdout.write(`port ${address.port}\n`)
})

process.on('SIGTERM', () => {
  server.close()
  for (const socket of open) socket.destroy()
  process.exit(0)
})
