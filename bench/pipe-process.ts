/** Starts and stops bench/pipe-relay.ts as its own process (its CPU is read from /proc by pid). */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const SCRIPT = fileURLToPath(new URL('./pipe-relay.ts', import.meta.url))
const START_TIMEOUT_MS = 20_000

export interface PipeProcess {
  readonly pid: number
  readonly port: number
  /** SIGTERM; resolves with how it exited. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

export async function startPipeProcess(upstreamPort: number, nodeArgs: readonly string[] = []): Promise<PipeProcess> {
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', SCRIPT, String(upstreamPort)], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the pipe relay did not start')), START_TIMEOUT_MS)
    let output = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8')
      const match = /port (\d+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve(Number(match[1]))
      }
    })
    void exited.then(() => reject(new Error('the pipe relay exited at start')))
  })
  return {
    pid: child.pid as number,
    port,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      return exited
    },
  }
}
