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
