/**
 * CPU time of named processes on this machine, from /proc (Linux): to say where a phase of a bench
 * spent the machine's cores (MariaDB, Redis, the service's processes). Empty where /proc is not.
 */
import { readFileSync, readdirSync } from 'node:fs'

/** Clock ticks per second of /proc's utime and stime (USER_HZ; 100 on Linux). */
const TICKS_PER_SECOND = 100

export type Pids = Readonly<Record<string, number | undefined>>

/** The pid of the first process whose command line matches `pattern`, if any. */
export function findPid (pattern: RegExp): number | undefined {
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue
      try {
        if (pattern.test(readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' '))) return Number(entry)
      } catch { /* gone meanwhile */ }
    }
  } catch { /* no /proc */ }
  return undefined
}

/** User plus system CPU milliseconds of each named process now (absent when unreadable). */
export function cpuMs (pids: Pids): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [name, pid] of Object.entries(pids)) {
    if (pid === undefined) continue
    try {
      // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      out[name] = ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND
    } catch { /* gone */ }
  }
  return out
}

/** CPU milliseconds each process spent between two readings. */
export function cpuSpent (before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [name, ms] of Object.entries(after)) if (before[name] !== undefined) out[name] = Math.round(ms - (before[name] as number))
  return out
}

/** What Redis reports of its own cost: its process's CPU (INFO cpu) and its commands' time (INFO commandstats). */
export interface RedisCost {
  /** User plus system CPU of the redis-server process, milliseconds. */
  readonly cpuMs: number
  /** Time spent executing commands (scripts included), microseconds, summed over commandstats. */
  readonly commandUs: number
}

/** Anything that answers INFO (ioredis). */
export interface InfoClient { info: (section: string) => Promise<string> }

export async function redisCost (redis: InfoClient): Promise<RedisCost> {
  const cpu = await redis.info('cpu')
  const stats = await redis.info('commandstats')
  const seconds = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? 0)
  let commandUs = 0
  for (const m of stats.matchAll(/,usec=(\d+),/g)) commandUs += Number(m[1])
  return { cpuMs: (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1000, commandUs }
}

/**
 * CPU per request of a measured stretch: call before it, then call what it returns with the
 * number of requests answered. Microseconds of CPU per request of each process in `pids`, and of
 * Redis (`redis`: its process; `redis commands`: its command time) when a client is given.
 * Redis's figures cover every client of that Redis: on a shared Redis they include other work.
 */
export async function costMeter (pids: Pids, redis?: InfoClient): Promise<(requests: number) => Promise<Record<string, number>>> {
  const cpu0 = cpuMs(pids)
  const redis0 = redis === undefined ? undefined : await redisCost(redis)
  return async (requests) => {
    const spent = cpuSpent(cpu0, cpuMs(pids))
    const n = Math.max(1, requests)
    const out: Record<string, number> = {}
    for (const [name, ms] of Object.entries(spent)) out[name] = (ms * 1000) / n
    if (redis !== undefined && redis0 !== undefined) {
      const r = await redisCost(redis)
      out.redis = ((r.cpuMs - redis0.cpuMs) * 1000) / n
      out['redis commands'] = (r.commandUs - redis0.commandUs) / n
    }
    return out
  }
}
