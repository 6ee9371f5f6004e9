/**
 * `node dist/bench/draw-million.js [entries] [units]`: times one draw (src/sale/allocation/draw.ts)
 * of 1,000,000 entries for 1,000 units by default -- the ranking by HMAC-SHA256 and the sort, from
 * entry ids in memory. Prints one JSON line: the wall time, the CPU time the draw used (on a
 * machine others share, the wall time is what is left of a core), and the load average.
 */
import { loadavg } from 'node:os'
import { commitmentOf, draw, newDrawSeed, newEntryId } from '../src/sale'

const entries = Number(process.argv[2] ?? 1_000_000)
const units = Number(process.argv[3] ?? 1_000)
const seed = newDrawSeed()
const ids = Array.from({ length: entries }, () => newEntryId())
const load = loadavg()[0]
const started = performance.now()
const cpu = process.cpuUsage()
const result = draw(seed, ids, units)
const ms = performance.now() - started
const used = process.cpuUsage(cpu)
process.stdout.write(`${JSON.stringify({ entries, units, drawMs: Math.round(ms), cpuMs: Math.round((used.user + used.system) / 1000), winners: result.winners.length, commitment: commitmentOf(seed).slice(0, 12), loadAverage1m: load, cpus: 2 })}\n`)
