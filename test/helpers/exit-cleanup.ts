/**
 * Server processes and temp dirs that must not outlive the test process:
 * on any exit that still runs JavaScript (normal end, process.exit, an
 * uncaught error) every registered process is SIGKILLed and its dir
 * removed. Each harness adds its own watchdog for the deaths where no
 * JavaScript runs (SIGKILL, a tap timeout).
 */
import { rmSync } from 'node:fs'

interface Leftover {
  readonly kill: () => void
  readonly dir: string
}

const leftovers = new Set<Leftover>()
let hooked = false

/** Register a running process; call the returned function once it is gone. */
export function cleanUpOnExit(kill: () => void, dir: string): () => void {
  if (!hooked) {
    hooked = true
    process.on('exit', () => {
      for (const leftover of leftovers) {
        try {
          leftover.kill()
        } catch {}
        try {
          rmSync(leftover.dir, { recursive: true, force: true })
        } catch {}
      }
    })
  }
  const leftover = { kill, dir }
  leftovers.add(leftover)
  return () => void leftovers.delete(leftover)
}
