/**
 * Memory and CPU of processes, read from /proc (Linux only, like the test
 * harness). CPU is sampled as cumulative seconds so a phase's share is the
 * difference of two samples.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

let ticks: number | undefined
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      ticks = 100
    }
  }
  return ticks
}

export interface MemorySample {
  /** Resident set size now, KiB. */
  readonly rssKiB: number
  /** Peak resident set size so far, KiB. */
  readonly peakKiB: number
}

export function memory(pid: number): MemorySample | undefined {
  let status: string
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return undefined
  }
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  return { rssKiB: field('VmRSS'), peakKiB: field('VmHWM') }
}

/** User + system CPU seconds the process has used so far (all its threads). */
export function cpuSeconds(pid: number): number | undefined {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // "pid (comm) state ppid ...": comm may contain spaces, so count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  return (utime + stime) / clockTicks()
}

/**
 * Whole-machine CPU in jiffies over all cores: busy (user, nice, system, irq, softirq), steal (time the
 * hypervisor gave to someone else while this VM wanted to run) and total (all of it, idle included).
 */
export function machineCpu(): { busy: number; steal: number; total: number; cores: number } {
  const stat = readFileSync('/proc/stat', 'utf8')
  const line = stat.split('\n')[0] ?? ''
  const values = line.trim().split(/\s+/).slice(1).map(Number)
  const at = (i: number) => values[i] ?? 0
  const total = values.slice(0, 8).reduce((a, b) => a + b, 0) // guest time is already in user
  const busy = at(0) + at(1) + at(2) + at(5) + at(6)
  const cores = stat.split('\n').filter((l) => /^cpu\d+ /.test(l)).length
  return { busy, steal: at(7), total, cores }
}

/** CPU use of a set of processes and of the machine between two points in time. */
export class CpuMeter {
  #pids: Map<string, number>
  #start = new Map<string, number>()
  #self = process.cpuUsage()
  #machine = machineCpu()
  #wall = performance.now()

  constructor(pids: Record<string, number | undefined>) {
    this.#pids = new Map(Object.entries(pids).filter((e): e is [string, number] => e[1] !== undefined))
    for (const [name, pid] of this.#pids) this.#start.set(name, cpuSeconds(pid) ?? NaN)
  }

  /** Percent of one core per process ("load generator" is this process), and machine busy % of all cores. */
  stop(): {
    wallSeconds: number
    percent: Record<string, number>
    cpuSeconds: Record<string, number>
    machineBusyPercent: number
    /** Busy CPU not used by the measured processes (kernel softirq for loopback, other processes), % of one core. */
    unattributedPercent: number
    /** CPU the hypervisor withheld (steal), % of one core. */
    stealPercent: number
  } {
    const wallSeconds = (performance.now() - this.#wall) / 1000
    const self = process.cpuUsage(this.#self)
    const seconds: Record<string, number> = { 'load generator': (self.user + self.system) / 1e6 }
    for (const [name, pid] of this.#pids) seconds[name] = (cpuSeconds(pid) ?? NaN) - (this.#start.get(name) ?? NaN)
    const percent: Record<string, number> = {}
    for (const [name, s] of Object.entries(seconds)) percent[name] = wallSeconds > 0 ? (s / wallSeconds) * 100 : NaN
    const machine = machineCpu()
    const total = machine.total - this.#machine.total
    const machineBusyPercent = total > 0 ? ((machine.busy - this.#machine.busy) / total) * 100 : NaN
    const stealPercent = total > 0 ? ((machine.steal - this.#machine.steal) / total) * 100 * machine.cores : NaN
    const ours = Object.values(percent).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0)
    return {
      wallSeconds,
      percent,
      cpuSeconds: seconds,
      machineBusyPercent,
      unattributedPercent: Math.max(0, machineBusyPercent * machine.cores - ours),
      stealPercent,
    }
  }
}

/** The process's open-file limit (soft), from /proc/PID/limits. */
export function fdLimit(pid: number | 'self'): number {
  try {
    const limits = readFileSync(`/proc/${pid}/limits`, 'utf8')
    return Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1] ?? NaN)
  } catch {
    return NaN
  }
}

/** Descriptors the process has open now. */
export function fdsOpen(pid: number | 'self'): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return NaN
  }
}

export type CpuUsage = ReturnType<CpuMeter['stop']>
