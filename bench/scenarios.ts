/**
 * The benchmark's scenarios, each against a running service (ingress and worker processes):
 * crowds before and after sell-out, polls, 10,000 long-polls waiting on a sale, and the full
 * 100,000-buyer sale. Each returns its figures; flash-crowd.ts runs them and writes the report.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, request as undiciRequest } from 'undici'
import autocannon from 'autocannon'
import type { Knex } from 'knex'
import type { RedisClient } from '../src/redis/scripts'
import type { KeySpace } from '../src/redis/keys'
import { eventDecided } from '../src/stock'
import { costMeter, cpuMs, cpuSpent } from './cpu-time'
import type { InfoClient, Pids } from './cpu-time'
import type { Child } from './processes'

export interface Api {
  readonly base: string
  call: (method: string, path: string, token: string, body?: unknown) => Promise<any>
}

export interface Rate {
  readonly reqPerSec: number
  readonly p50: number
  readonly p99: number
  readonly non2xx: number
  /** Microseconds of CPU per request by process (and Redis), when the run was metered. */
  readonly cpuUs?: Record<string, number>
}

/** What a timed run meters: these processes' CPU, and Redis's when a client is given. */
export interface Metered { readonly pids: Pids, readonly redis?: InfoClient }

export function api (base: string): Api {
  return {
    base,
    async call (method, path, token, body) {
      const res = await fetch(base + path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body)
      })
      const json = await res.json()
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`)
      return json
    }
  }
}

export async function createEvent (a: Api, admin: string, stock: number, shards: number): Promise<number> {
  const product = await a.call('POST', '/api/v1/admin/products', admin, { title: 'Bench sneaker', price_cents: 19900 })
  const start = Date.now() - 1000
  const created = await a.call('POST', '/api/v1/admin/events', admin, {
    product_id: product.data.id, title: 'Bench', price_cents: 9900, stock, shards,
    start_at: new Date(start).toISOString(), end_at: new Date(start + 3_600_000).toISOString()
  })
  return created.data.id as number
}

/**
 * A draw sale (`mode: "draw"`, one shard) taking entries now: its window opened an hour ago and
 * closes (`start_at`) in 12 hours, so no worker owns or draws it during a bench (the dispatcher
 * looks 60 s ahead) and every buy is an entry.
 */
export async function createDrawEvent (a: Api, admin: string, stock: number): Promise<number> {
  const product = await a.call('POST', '/api/v1/admin/products', admin, { title: 'Bench draw', price_cents: 19900 })
  const close = Date.now() + 12 * 3_600_000
  const created = await a.call('POST', '/api/v1/admin/events', admin, {
    product_id: product.data.id, title: 'Bench draw', price_cents: 9900, stock, mode: 'draw', lead_ms: 13 * 3_600_000,
    start_at: new Date(close).toISOString(), end_at: new Date(close + 3_600_000).toISOString()
  })
  return created.data.id as number
}

/** A timed run of one request shape with a distinct token per request. */
export async function timedRun (base: string, seconds: number, connections: number, method: 'GET' | 'POST', pathOf: (i: number) => string, tokenOf: (i: number) => string, metered?: Metered): Promise<Rate> {
  let n = 0
  const meter = metered === undefined ? undefined : await costMeter(metered.pids, metered.redis)
  const result = await autocannon({
    url: base,
    connections,
    duration: seconds,
    requests: [{
      method,
      setupRequest: (req) => {
        const i = n++
        return { ...req, path: pathOf(i), headers: { ...req.headers, authorization: `Bearer ${tokenOf(i)}` } }
      }
    }]
  })
  const cpuUs = meter === undefined ? undefined : await meter(result.requests.total)
  return { reqPerSec: result.requests.total / result.duration, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx, ...(cpuUs === undefined ? {} : { cpuUs }) }
}

export interface RateByStatus {
  readonly reqPerSec: number
  /** Answered 2xx per second. */
  readonly okPerSec: number
  readonly total: number
  /** Answered 503 (shed or too many waiting), of all answered. */
  readonly shedShare: number
  /** Latency of the 2xx answers (ms). */
  readonly okP50: number
  readonly okP99: number
  /** Latency of every answer (ms). */
  readonly allP99: number
  /** Requests that got no answer (timeouts, resets). */
  readonly errors: number
}

/** The p-quantile of an ascending list (0 for none). */
export function percentile (sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number
}

/** timedRun that keeps every answer's latency by status, so the answered ones' tail is known apart from the shed ones'. */
export async function timedRunByStatus (base: string, seconds: number, connections: number, method: 'GET' | 'POST', pathOf: (i: number) => string, tokenOf: (i: number) => string): Promise<RateByStatus> {
  let n = 0
  const ok: number[] = []
  const all: number[] = []
  let shed = 0
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({
      url: base,
      connections,
      duration: seconds,
      timeout: 10,
      requests: [{
        method,
        setupRequest: (req) => {
          const i = n++
          return { ...req, path: pathOf(i), headers: { ...req.headers, authorization: `Bearer ${tokenOf(i)}` } }
        }
      }]
    }, (err, res) => { if (err !== null && err !== undefined) reject(err); else resolve(res) })
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      all.push(ms)
      if (status >= 200 && status < 300) ok.push(ms)
      else if (status === 503) shed++
    })
  })
  ok.sort((a, b) => a - b)
  all.sort((a, b) => a - b)
  return {
    reqPerSec: all.length / result.duration,
    okPerSec: ok.length / result.duration,
    total: all.length,
    shedShare: all.length === 0 ? 0 : shed / all.length,
    okP50: percentile(ok, 0.5),
    okP99: percentile(ok, 0.99),
    allP99: percentile(all, 0.99),
    errors: result.errors + result.timeouts
  }
}

/** The plain route, sent the same requests a crowd sends (a distinct bearer token each). */
export async function baseline (base: string, seconds: number, connections: number, tokenOf: (i: number) => string, metered?: Metered): Promise<Rate> {
  return await timedRun(base, seconds, connections, 'GET', () => '/baseline', tokenOf, metered)
}

/** The bare route plus one Lua call (the baseline server's `/one-lua`): the ceiling of a one-round-trip path. */
export async function oneLua (base: string, seconds: number, connections: number, tokenOf: (i: number) => string, metered?: Metered): Promise<Rate> {
  return await timedRun(base, seconds, connections, 'GET', () => '/one-lua', tokenOf, metered)
}

export async function waitDecided (redis: RedisClient, keys: KeySpace, eventId: number, shards: number, ms: number): Promise<number> {
  const deadline = Date.now() + ms
  while (!await eventDecided({ redis, keys }, { id: eventId, shards })) {
    if (Date.now() > deadline) throw new Error(`event ${eventId}: tickets still queued after ${ms} ms`)
    await sleep(5)
  }
  return Date.now()
}

/** Admits `count` distinct buyers to an event, 100 at a time; returns their tokens and tickets. */
async function admit (a: Api, eventId: number, sign: (user: string) => string, count: number, firstUser: number): Promise<{ tokens: string[], tickets: string[] }> {
  const tokens = Array.from({ length: count }, (_, i) => sign(String(firstUser + i)))
  const tickets: string[] = new Array(count)
  let next = 0
  await Promise.all(Array.from({ length: 100 }, async () => {
    while (next < count) {
      const i = next++
      tickets[i] = (await a.call('POST', `/api/v1/events/${eventId}/buy`, tokens[i] as string)).data.ticket_id
    }
  }))
  return { tokens, tickets }
}

/**
 * Settings for the worker of a bench that runs backlogDrain or longPolls, which stop it (SIGSTOP)
 * while buyers are admitted, for 3 s or more: a lease longer than the stop. With LEASE_MS (5 s)
 * the worker found leases expired when it resumed (the worker's log: "lease renewal refused" for
 * the round's earlier sales at each resume) and those shards moved, a takeover and a fencing
 * write each, inside the drain being timed. flash-crowd's backlog rounds drained at 12,262 to
 * 12,610 orders/s in 3 of the 18 rounds of six runs on two days, 27,000 to 47,506 in the rest. A
 * real backlog does not freeze its worker; other benches keep the production lease.
 */
export const STOPPED_WORKER_ENV: Readonly<Record<string, string>> = { LEASE_MS: '30000' }

/**
 * The drain's own pace: `count` buyers admitted against `count` units while the worker is paused,
 * no one polling; the worker resumes and decides the backlog. Orders committed per second, from
 * the resume until every ticket is final.
 */
export async function backlogDrain (a: Api, worker: Child, redis: RedisClient, keys: KeySpace, admin: string,
  sign: (user: string) => string, count: number, firstUser: number, pids: Pids = {}): Promise<{ eventId: number, count: number, ms: number, firstMs: number, ordersPerSec: number, cpuMs: Record<string, number> }> {
  const eventId = await createEvent(a, admin, count, 1)
  // As in a real sale, whose shards are owned ahead of its start (START_HORIZON_MS): the drain's
  // pace, not the worker's discovery of a sale created a moment ago.
  const lease = keys.shard({ eventId, shard: 0 }).lease
  const owned = Date.now() + 30_000
  while (await redis.exists(lease) === 0) {
    if (Date.now() > owned) throw new Error(`event ${eventId}: no worker took its shard within 30 s`)
    await sleep(5)
  }
  worker.process.kill('SIGSTOP')
  let resumed: number
  let before: Record<string, number> = {}
  try {
    await admit(a, eventId, sign, count, firstUser)
  } finally {
    before = cpuMs(pids)
    resumed = Date.now()
    worker.process.kill('SIGCONT')
  }
  // When the first batch's outcomes were written: the pipeline's start-up, inside `ms`.
  const drained = keys.shard({ eventId, shard: 0 }).drained
  const firstDeadline = Date.now() + 120_000
  while (Number(await redis.get(drained) ?? 0) === 0 && Date.now() < firstDeadline) await sleep(1)
  const firstMs = Date.now() - resumed
  const decidedAt = await waitDecided(redis, keys, eventId, 1, 120_000)
  const ms = decidedAt - resumed
  return { eventId, count, ms, firstMs, ordersPerSec: count / Math.max(0.001, ms / 1000), cpuMs: cpuSpent(before, cpuMs(pids)) }
}

/**
 * 10,000 buyers hold a ticket while the worker is paused; each opens a long-poll; the worker
 * resumes. Reports how fast every long-poll returns after the outcome exists, and the ingress's
 * memory while they wait.
 */
export async function longPolls (a: Api, ingress: Child, worker: Child, redis: RedisClient, keys: KeySpace, admin: string,
  sign: (user: string) => string, count: number): Promise<{ count: number, answered: number, p50: number, p99: number, lastMs: number, ingressRssMiB: number, drainPerSec: number }> {
  const eventId = await createEvent(a, admin, count, 1)
  worker.process.kill('SIGSTOP')
  try {
    const { tokens, tickets } = await admit(a, eventId, sign, count, 5_000_000)
    const agent = new Agent({ connections: count + 10, pipelining: 0, headersTimeout: 60_000, bodyTimeout: 60_000 })
    const answeredAt: number[] = []
    const waits = tickets.map(async (id, i) => {
      const res = await undiciRequest(`${a.base}/api/v1/tickets/${id}?wait=30000`, { dispatcher: agent, headers: { authorization: `Bearer ${tokens[i] ?? ''}` } })
      const body = await res.body.json() as { data?: { status?: string } }
      if (body.data?.status === 'won') answeredAt.push(Date.now())
    })
    await sleep(2000) // every long-poll is open and waiting
    const rss = ingress.rss()
    const resumed = Date.now()
    worker.process.kill('SIGCONT')
    const decidedAt = await waitDecided(redis, keys, eventId, 1, 60_000)
    await Promise.all(waits)
    await agent.close()
    const after = answeredAt.map((t) => t - resumed).sort((x, y) => x - y)
    const q = (p: number): number => after[Math.min(after.length - 1, Math.floor(p * after.length))] ?? 0
    // The worker found the whole backlog queued at once, while the ingress answered the polls.
    const drainPerSec = count / Math.max(0.001, (decidedAt - resumed) / 1000)
    return { count, answered: after.length, p50: q(0.5), p99: q(0.99), lastMs: after[after.length - 1] ?? 0, ingressRssMiB: rss / 1048576, drainPerSec }
  } finally {
    worker.process.kill('SIGCONT')
  }
}

/** Redis commands processed and MySQL commits so far (to count per admitted buy and per order). */
export async function counters (redis: RedisClient, db: Knex): Promise<{ redisCommands: number, scriptCalls: number, mysqlCommits: number, redisMemory: number }> {
  const stats = await redis.info('stats')
  const memory = await redis.info('memory')
  const commandstats = await redis.info('commandstats')
  const calls = (cmd: string): number => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(commandstats)?.[1] ?? 0)
  const commits = await db.raw("SHOW GLOBAL STATUS LIKE 'Com_commit'") as [[{ Value: string }]]
  return {
    redisCommands: Number(/total_commands_processed:(\d+)/.exec(stats)?.[1] ?? 0),
    // Each EVALSHA is one round trip of a client; the commands inside it are not.
    scriptCalls: calls('evalsha') + calls('eval'),
    mysqlCommits: Number(commits[0][0]?.Value ?? 0),
    redisMemory: Number(/used_memory:(\d+)/.exec(memory)?.[1] ?? 0)
  }
}

/** The worker's drain stage histograms (sums and counts), from its metrics listener. */
export async function stageTotals (metricsPort: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
  const totals = new Map<string, number>()
  for (const m of text.matchAll(/^seckill_drain_stage_seconds_(sum|count)\{[^}]*stage="(\w+)"[^}]*\} ([\d.e+-]+)$/gm)) totals.set(`${m[2] ?? ''}_${m[1] ?? ''}`, Number(m[3]))
  return totals
}

/** Mean milliseconds per batch of each stage between two readings, and the number of batches. */
export function perBatch (a: Map<string, number>, b: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const key of b.keys()) {
    if (!key.endsWith('_sum')) continue
    const stage = key.slice(0, -4)
    const n = (b.get(`${stage}_count`) ?? 0) - (a.get(`${stage}_count`) ?? 0)
    out[stage] = n === 0 ? 0 : Math.round(((b.get(key) ?? 0) - (a.get(key) ?? 0)) / n * 10_000) / 10
    out.batches = n
  }
  return out
}

/**
 * The machine's own ceiling for the drain's MySQL work, measured in the same run: `rows` orders of
 * event `eventId` inserted into the same `orders` table by a bare loop of 1,000-row inserts (one
 * statement and commit each, as a drain batch commits once), nothing else running; then deleted.
 * Rows per second.
 */
export async function insertCeiling (db: Knex, eventId: number, rows: number, firstUser: number): Promise<number> {
  const batch = 1000
  const deadline = new Date(Date.now() + 15 * 60_000)
  const started = performance.now()
  for (let at = 0; at < rows; at += batch) {
    const n = Math.min(batch, rows - at)
    await db('orders').insert(Array.from({ length: n }, (_, i) => ({
      ticket_id: `ceiling-${eventId}-${at + i}`,
      event_id: eventId,
      user_id: firstUser + at + i,
      price_cents: 9900,
      expires_at: deadline
    })))
  }
  const seconds = (performance.now() - started) / 1000
  await db('orders').where({ event_id: eventId }).where('ticket_id', 'like', 'ceiling-%').delete()
  return rows / Math.max(0.001, seconds)
}
