/**
 * `npm run bench:redis-client`: the Redis client's own CPU per script call, ioredis 5 (what the
 * product runs) against ioredis 6 (installed beside it as `ioredis-6`), on the same Redis, in
 * alternating runs. Each run registers one script with `defineCommand` and calls it CALLS times
 * with IN_FLIGHT calls outstanding (as the ingress and the drain do under load: pipelined), the
 * script taking three keys and three arguments and answering 25 values, as the drain's scripts do.
 * Reported: client CPU microseconds per call (user + system of this process), median of ROUNDS
 * runs per client. The Redis server's own time is not counted.
 *
 * Options (environment): BENCH_CALLS (40000), BENCH_IN_FLIGHT (50), BENCH_ROUNDS (5), REDIS_URL.
 */
import { Redis as Redis5 } from 'ioredis'
import { Redis as Redis6 } from 'ioredis-6'

const CALLS = Number(process.env.BENCH_CALLS ?? 40_000)
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 50)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const KEY = `bench:redis-client:{${process.pid}}`
const LUA = "redis.call('INCR', KEYS[1]); local out = {0}; for i = 1, 12 do out[#out + 1] = 'value-' .. i; out[#out + 1] = i end; return out"

interface ScriptClient {
  call: (...args: Array<string | number>) => Promise<unknown>
  quit: () => Promise<unknown>
}

function client (make: () => { defineCommand: (name: string, d: { numberOfKeys: number, lua: string }) => void, quit: () => Promise<unknown> }): ScriptClient {
  const c = make()
  c.defineCommand('benchScript', { numberOfKeys: 3, lua: LUA })
  const call = (c as unknown as { benchScript: (...args: Array<string | number>) => Promise<unknown> }).benchScript.bind(c)
  return { call, quit: async () => await c.quit() }
}

/** Client CPU µs per call over `calls` calls with `inFlight` outstanding. */
async function cpuPerCall (c: ScriptClient, calls: number, inFlight: number): Promise<number> {
  let issued = 0
  const before = process.cpuUsage()
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (issued++ < calls) await c.call(`${KEY}:1`, `${KEY}:2`, `${KEY}:3`, 'argument-one', 12345, 'argument-three')
  }))
  const used = process.cpuUsage(before)
  return (used.user + used.system) / calls
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

async function main (): Promise<void> {
  const clients: Record<string, ScriptClient> = {
    'ioredis 5 (the product)': client(() => new Redis5(URL)),
    'ioredis 6 (RESP3, its default)': client(() => new Redis6(URL)),
    'ioredis 6 (protocol: 2)': client(() => new Redis6(URL, { protocol: 2 }))
  }
  const results: Record<string, number[]> = Object.fromEntries(Object.keys(clients).map((k) => [k, []]))
  for (const c of Object.values(clients)) await cpuPerCall(c, 5000, IN_FLIGHT) // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, c] of Object.entries(clients)) results[name]?.push(await cpuPerCall(c, CALLS, IN_FLIGHT))
  }
  const base = median(results['ioredis 5 (the product)'] ?? [])
  process.stdout.write(`Client CPU per script call, ${CALLS.toLocaleString('en')} calls, ${IN_FLIGHT} in flight, median of ${ROUNDS} alternating runs (min–max):\n\n`)
  process.stdout.write('| client | µs per call | vs ioredis 5 |\n|---|---|---|\n')
  for (const [name, xs] of Object.entries(results)) {
    process.stdout.write(`| ${name} | ${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}) | ${(median(xs) / base).toFixed(2)}× |\n`)
  }
  const cleaner = new Redis5(URL)
  await cleaner.del(`${KEY}:1`)
  await cleaner.quit()
  for (const c of Object.values(clients)) await c.quit()
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
