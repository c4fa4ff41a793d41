import { createServer } from 'node:net'
import { randomInt } from 'node:crypto'

// Stay below the Linux ephemeral range (32768–60999): a port handed out from
// there can be grabbed by any outgoing connection between our probe and the
// moment the server under test binds it.
const MIN_PORT = 10000
const MAX_PORT = 32000
const MAX_ATTEMPTS = 200

// Never hand out the same port twice within this process, even if the first
// taker has not bound it yet. Other tap workers are separate processes, which
// is why the starting point is random rather than sequential.
const handedOut = new Set<number>()

// Fetch and browsers refuse these ports ("bad port", WHATWG Fetch §2.9); the only one in our range.
const BLOCKED_BY_BROWSERS = new Set([10080])

function tryListen (port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(false)
      else reject(err)
    })
    // exclusive: don't share a handle with cluster workers; we want a real bind.
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      server.close(() => resolve(true))
    })
  })
}

/** A TCP port on 127.0.0.1 that was free a moment ago and that this process has not returned before. */
export async function freePort (): Promise<number> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const port = randomInt(MIN_PORT, MAX_PORT + 1)
    if (handedOut.has(port) || BLOCKED_BY_BROWSERS.has(port)) continue
    if (await tryListen(port)) {
      handedOut.add(port)
      return port
    }
  }
  throw new Error(`freePort: no free port found in ${MIN_PORT}-${MAX_PORT} after ${MAX_ATTEMPTS} attempts`)
}
