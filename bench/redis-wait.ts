/**
 * `npm run bench:redis-wait`: what Redis `WAIT` would cost the admission. A private Redis master
 * with one replica (its own loopback ports); the real admission script (lua/admitBuyer) on a
 * warmed shard with stock to spare, ADMISSIONS distinct buyers with IN_FLIGHT outstanding, as the
 * ingress sends them: each call alone, or each followed by `WAIT 1 <timeout>` in the same
 * pipeline (answered once a replica has the admission). Alternating rounds; reported: admissions
 * per second and the p99 of one call, medians of ROUNDS rounds. This is the Redis part of an
 * admitted buy only; bench/RESULTS.md sets it against the whole request.
 *
 * Options: BENCH_ADMISSIONS (20000), BENCH_IN_FLIGHT (100), BENCH_ROUNDS (5), BENCH_WRITE (1).
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { freePort } from '../test/helpers/ports'
import { createKeySpace } from '../src/redis/keys'
import { defineScripts, scriptArgv, scriptCommand } from '../src/redis/scripts'
import { admitCall } from '../src/redis/commands'
import { claimShard, warmShard } from '../src/stock'
import { envNumber, finishBench, median, runBench, stat } from './results-file'

const ADMISSIONS = envNumber('BENCH_ADMISSIONS', 20_000)
const IN_FLIGHT = envNumber('BENCH_IN_FLIGHT', 100)
const ROUNDS = envNumber('BENCH_ROUNDS', 5)

async function server (port: number, dir: string, replicaOf?: number): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--dbfilename', `d${port}.rdb`]
  const child = spawn('redis-server', replicaOf === undefined ? args : [...args, '--replicaof', '127.0.0.1', String(replicaOf)], { stdio: 'ignore' })
  const probe = new Redis(port, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  for (let i = 0; i < 100; i++) {
    try { await probe.connect(); break } catch { await sleep(50) }
  }
  probe.disconnect()
  return child
}

interface Round { readonly perSec: number, readonly p99: number }

async function run (redis: Redis, eventId: number, wait: boolean, firstUser: number): Promise<Round> {
  const keys = createKeySpace('bw')
  const ref = { eventId, shard: 0 }
  const k = keys.shard(ref)
  const q = keys.buyQueue(ref)
  await claimShard(redis, k, 0)
  await warmShard(redis, k, { units: 100_000_000, siblings: [], firstMark: 0, floor: 0, fence: 0, held: [] })
  const command = scriptCommand('admitBuyer')
  const target = { k, q, ticketPrefix: `${eventId}-0-`, overbook: 1.1, rate: { max: 1_000_000, timeWindow: 10_000 } }
  const argvOf = (user: number): Array<string | number> => scriptArgv('admitBuyer', admitCall(target, String(user)))
  const times: number[] = []
  let next = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < ADMISSIONS) {
      const user = firstUser + next++
      const t0 = performance.now()
      const p = redis.pipeline() as unknown as Record<string, (...a: unknown[]) => unknown> & { wait: (n: number, ms: number) => unknown, exec: () => Promise<Array<[Error | null, unknown]>> }
      ;(p[command] as (...a: unknown[]) => unknown)(...argvOf(user))
      if (wait) p.wait(1, 100)
      const replies = await p.exec()
      if (replies.some(([err]) => err !== null)) throw new Error('admission failed')
      if (wait && Number(replies[1]?.[1]) < 1) throw new Error('WAIT: no replica acknowledged within 100 ms')
      times.push(performance.now() - t0)
    }
  }))
  const seconds = (performance.now() - started) / 1000
  times.sort((a, b) => a - b)
  return { perSec: ADMISSIONS / seconds, p99: times[Math.floor(times.length * 0.99)] as number }
}

async function main (): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sk-wait-'))
  const masterPort = await freePort()
  const replicaPort = await freePort()
  const master = await server(masterPort, dir)
  const replica = await server(replicaPort, dir, masterPort)
  const redis = new Redis(masterPort)
  defineScripts(redis)
  const results: Record<'plain' | 'wait', Round[]> = { plain: [], wait: [] }
  try {
    while (!(await redis.info('replication')).includes('state=online')) await sleep(50)
    let user = 1
    for (let round = 0; round < ROUNDS; round++) {
      for (const wait of round % 2 === 0 ? [false, true] : [true, false]) {
        const r = await run(redis, 1000 + round * 2 + (wait ? 1 : 0), wait, user)
        user += ADMISSIONS
        results[wait ? 'wait' : 'plain'].push(r)
        process.stdout.write(`round ${round + 1}, ${wait ? 'with WAIT 1' : 'plain'}: ${r.perSec.toFixed(0)} admissions/s, p99 ${r.p99.toFixed(2)} ms\n`)
      }
    }
  } finally {
    redis.disconnect()
    replica.kill('SIGKILL')
    master.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  const plain = median(results.plain.map((r) => r.perSec))
  const waited = median(results.wait.map((r) => r.perSec))
  const text = [
    `A Redis master and one replica on loopback; the admission script on a shard with stock to spare; ${ADMISSIONS} distinct buyers a round, ${IN_FLIGHT} calls in flight; ${ROUNDS} alternating rounds. Medians (min–max).`,
    '',
    '| admission | admissions/s | p99 of one call (ms) |',
    '|---|---|---|',
    `| alone | ${stat(results.plain.map((r) => r.perSec))} | ${stat(results.plain.map((r) => r.p99), 2)} |`,
    `| followed by WAIT 1 (a replica has it) | ${stat(results.wait.map((r) => r.perSec))} | ${stat(results.wait.map((r) => r.p99), 2)} |`,
    '',
    `With WAIT: ${(100 * waited / plain).toFixed(1)} % of the admissions per second without it.`
  ].join('\n')
  finishBench('redis-wait', 'npm run bench:redis-wait', text)
}

runBench(main)
