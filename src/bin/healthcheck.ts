#!/usr/bin/env node
/**
 * `causeway-healthcheck`: the container health check. It asks the running
 * Causeway's own `/healthz` at the address and scheme that process was
 * really given, whichever way it was given (flags after the image name,
 * CAUSEWAY_* variables, a config file): it reads that process's command
 * line, environment and working directory from /proc (pid 1 in a
 * container, `--pid N` otherwise) and parses them exactly as Causeway did.
 *
 *   HEALTHCHECK CMD ["node", "dist/bin/healthcheck.js"]
 *
 * Exit 0: 200 from /healthz. Exit 1: anything else, with the reason on stderr.
 */
import { readFileSync, readlinkSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { isAbsolute, resolve } from 'node:path'
import { parseCommandLine } from '../config/index.js'

/** Under Docker's own --timeout (5 s in the Dockerfile). */
const REQUEST_TIMEOUT_MS = 4000

function fail(message: string): never {
  process.stderr.write(`causeway-healthcheck: ${message}\n`)
  process.exit(1)
}

function target(pid: string): { argv: string[]; env: Record<string, string>; cwd: string } {
  let cmdline: string[]
  let environ: string[]
  let cwd: string
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((part) => part !== '')
    environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter((part) => part !== '')
    cwd = readlinkSync(`/proc/${pid}/cwd`)
  } catch (error) {
    return fail(`cannot read process ${pid}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`)
  }
  // node [node options] …/causeway.js|ts [Causeway's arguments]
  const script = cmdline.findIndex((part) => /(^|\/)causeway\.(js|ts)$/.test(part))
  if (script < 0) fail(`process ${pid} is not causeway: ${cmdline.join(' ')}`)
  const env: Record<string, string> = {}
  for (const entry of environ) {
    const eq = entry.indexOf('=')
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1)
  }
  return { argv: cmdline.slice(script + 1), env, cwd }
}

function main(): void {
  const pidFlag = process.argv.indexOf('--pid')
  const pid = pidFlag >= 0 ? (process.argv[pidFlag + 1] ?? '1') : '1'
  if (!/^\d+$/.test(pid)) fail('--pid takes a process id')
  const { argv, env, cwd } = target(pid)
  let command
  try {
    command = parseCommandLine({ argv, env, readFile: (path) => readFileSync(isAbsolute(path) ? path : resolve(cwd, path), 'utf8') })
  } catch (error) {
    return fail(`the process's own configuration does not parse: ${error instanceof Error ? error.message : String(error)}`)
  }
  if (command.action !== 'run') fail('the process is not serving (it was asked for --help or --version)')
  const { config } = command
  if (config.port === 0) fail('port 0 (chosen by the OS) cannot be found from outside')
  // A wildcard listener is reached on loopback.
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host === '::' ? '::1' : config.host
  const tls = config.tlsCert !== undefined
  // No certificate check: this asks the process next door over loopback, not a server on the network.
  const options = { host, port: config.port, path: '/healthz', timeout: REQUEST_TIMEOUT_MS, ...(tls ? { rejectUnauthorized: false } : {}) }
  const where = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${config.port}/healthz`
  const request = (tls ? httpsRequest : httpRequest)(options, (response) => {
    response.resume()
    if (response.statusCode === 200) process.exit(0)
    fail(`${where} answered ${response.statusCode}${response.statusCode === 503 ? ' (shutting down)' : ''}`)
  })
  request.on('timeout', () => request.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)))
  request.on('error', (error: NodeJS.ErrnoException) => fail(`${where}: ${error.code ?? error.message}`))
  request.end()
}

main()
