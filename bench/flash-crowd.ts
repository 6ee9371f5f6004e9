/**
 * `npm run bench`: the flash-crowd benchmark.
 *
 * In one run, on this machine: a plain Fastify route (the baseline), the ingress and the worker
 * (separate processes, as PM2 runs them) are started as child processes; this process is the load
 * generator (autocannon). Every round measures the baseline, then: a flash-crowd sale (distinct
 * buyers, one signed JWT each, against a small stock, audited I1–I7), a crowd before sell-out,
 * entries into a draw sale (`mode: "draw"`, a fresh one each round, measured as the crowd before
 * sell-out is), a crowd after sell-out, polls of final tickets, and the drain of a 20,000-ticket
 * backlog (audited). Once per run: 10,000 long-polls waiting on a
 * sale, and the full sale of 100,000 buyers against 20,000 units (audited). Figures are medians
 * of the rounds with min–max; request rates are also given as a ratio to the baseline's, and each
 * timed run is metered: CPU per request of the ingress, the worker, Redis and the load generator,
 * beside the bare route's and the one-Lua-call route's (`/one-lua`, the admitted buy's ceiling).
 *
 * Options (environment): BENCH_BUYERS (20000), BENCH_STOCK (1000), BENCH_SHARDS (1),
 * BENCH_ROUNDS (3), BENCH_CONNECTIONS (100), BENCH_PORT (18080), BENCH_BASELINE_SECONDS (5),
 * BENCH_SECONDS (4, each timed scenario), BENCH_FULL_BUYERS (100000), BENCH_FULL_STOCK (20000),
 * BENCH_LONG_POLLS (10000), BENCH_BACKLOG (20000), BENCH_PACED (0.25,0.5: the admitted buys offered again
 * at these shares of the round's closed-loop rate, open loop, paced-load.ts; empty for none), BENCH_WRITE (1: write bench/RESULTS.md), BENCH_PROFILE (1: the
 * processes write CPU profiles to bench/.runs/ on exit), BENCH_LAYOUT (`split`: ingress and worker
 * as separate processes, as PM2 runs them; `one`: one process doing both, as `npm start` runs it,
 * where the backlog and long-poll scenarios, which pause the worker, are left out).
 *
 * The drain's pace is also given against the machine's own ceiling for the same MySQL work, measured
 * in the same round: a bare loop of 1,000-row inserts into the same `orders` table (insertCeiling).
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import { createDb, dropDatabase, withDatabase } from '../src/db/knex'
import { createKeySpace } from '../src/redis/keys'
import { deleteKeysWithPrefix } from '../src/redis/client'
import { createTokenSigner } from '../src/http/auth'
import { auditSale } from '../src/sale'
import { eventDecided } from '../src/stock'
import type { SaleAudit } from '../src/sale'
import { queuedTicketId, rejectedTicketId, shardOf } from '../src/shared/ticket-ids'
import { repoPath } from '../src/util/paths'
import { startBaseline, startService } from './processes'
import type { Child } from './processes'
import { STOPPED_WORKER_ENV, api as apiClient, backlogDrain, baseline as baselineRun, counters, createDrawEvent, createEvent, insertCeiling, longPolls, oneLua as oneLuaRun, timedRun, waitDecided } from './scenarios'
import type { Metered, Rate } from './scenarios'
import { costMeter } from './cpu-time'
import { pacedRun } from './paced-load'
import type { PacedResult } from './paced-load'
import { nowUs } from './profile-summary'
import type { Window } from './profile-summary'
import { envNumber, median } from './results-file'
import { BENCH_PAYMENT_SETTINGS } from './payment-settings'

const settings = {
  buyers: envNumber('BENCH_BUYERS', 20_000),
  stock: envNumber('BENCH_STOCK', 1000),
  shards: envNumber('BENCH_SHARDS', 1),
  rounds: envNumber('BENCH_ROUNDS', 3),
  connections: envNumber('BENCH_CONNECTIONS', 100),
  port: envNumber('BENCH_PORT', 18080),
  baselineSeconds: envNumber('BENCH_BASELINE_SECONDS', 5),
  seconds: envNumber('BENCH_SECONDS', 4),
  fullBuyers: envNumber('BENCH_FULL_BUYERS', 100_000),
  fullStock: envNumber('BENCH_FULL_STOCK', 20_000),
  longPolls: envNumber('BENCH_LONG_POLLS', 10_000),
  backlog: envNumber('BENCH_BACKLOG', 20_000),
  paced: pacedShares(process.env.BENCH_PACED ?? '0.25,0.5'),
  write: process.env.BENCH_WRITE !== '0',
  profile: process.env.BENCH_PROFILE === '1',
  layout: process.env.BENCH_LAYOUT === 'one' ? 'one' as const : 'split' as const
}

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const DATABASE_URL = withDatabase(process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/seckill', 'seckill_bench')
const SECRET = randomBytes(24).toString('hex')
const PREFIX = `bench${randomBytes(3).toString('hex')}`

interface Round {
  readonly reqPerSec: number
  readonly p50: number
  readonly p99: number
  readonly non2xx: number
  readonly errors: number
  readonly crowdMs: number
  /** From the crowd's first request until every ticket is final. */
  readonly allFinalMs: number
  /** From the crowd's end until every ticket is final. */
  readonly finalAfterCrowdMs: number
  /** From the first to the last order committed. */
  readonly ordersSpanMs: number
  readonly ordersPerSec: number
  readonly audit: SaleAudit
  readonly i7: { readonly checked: number, readonly same: number }
  readonly serviceRss: number
  readonly workerRss: number
  /** From the crowd's last answer to the last order committed (negative: before it). */
  readonly lastOrderAfterCrowdMs: number
}

interface Service { readonly ingress: Child, readonly worker: Child, readonly url: string }

async function runRound (service: Service, round: number, redis: Redis, db: ReturnType<typeof createDb>, buyers = settings.buyers, stock = settings.stock): Promise<Round> {
  const sign = createTokenSigner(SECRET)
  const admin = sign({ id: '1', role: 'admin' })
  const product = await apiClient(service.url).call('POST', '/api/v1/admin/products', admin, { title: 'Bench sneaker', price_cents: 19900 })
  const start = Date.now() - 1000
  const created = await apiClient(service.url).call('POST', '/api/v1/admin/events', admin, {
    product_id: product.data.id,
    title: `Bench round ${round}`,
    price_cents: 9900,
    stock,
    shards: settings.shards,
    start_at: new Date(start).toISOString(),
    end_at: new Date(start + 3_600_000).toISOString()
  })
  const eventId = created.data.id as number
  const firstUser = 1_000_000 * (round + 1)
  const tokens = Array.from({ length: buyers }, (_, i) => sign({ id: String(firstUser + i), role: 'user' }))
  let next = 0
  let lastAnswer = 0
  let peakRss = service.ingress.rss()
  let peakWorkerRss = service.worker.rss()
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, service.ingress.rss())
    peakWorkerRss = Math.max(peakWorkerRss, service.worker.rss())
  }, 100)

  const keys = createKeySpace(PREFIX)
  const watch = watchIdle(redis, keys, eventId)
  const crowdStart = Date.now()
  const result = await autocannon({
    url: service.url,
    connections: settings.connections,
    amount: buyers,
    requests: [{
      method: 'POST',
      path: `/api/v1/events/${eventId}/buy`,
      setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${tokens[next++ % tokens.length] ?? ''}` } }),
      // autocannon ends an `amount` run on its one-second tick; the crowd really ends at its last answer.
      onResponse: () => { lastAnswer = Date.now() }
    }]
  })
  const crowdEnd = lastAnswer

  const deadline = Date.now() + 120_000
  // Idle on a look taken after the last answer (the watcher looks every 5 ms).
  await sleep(10)
  while (watch.idleSince === 0) {
    if (Date.now() > deadline) throw new Error('tickets were still queued two minutes after the crowd')
    await sleep(5)
  }
  watch.stop()
  const finalAt = Math.max(watch.idleSince, crowdEnd)
  clearInterval(rssTimer)

  const span = await db('orders').where({ event_id: eventId }).first(db.raw('MIN(created_at) AS first'), db.raw('MAX(created_at) AS last'), db.raw('COUNT(*) AS n')) as { first: Date, last: Date, n: number }
  const ordersSpanMs = Math.max(1, new Date(span.last).getTime() - new Date(span.first).getTime())
  const audit = await auditSale(db, redis, keys, eventId)
  const i7 = await checkResubmits(service.url, redis, keys, eventId, tokens, firstUser)
  return {
    // Total over the measured duration: autocannon's per-second average is coarse for short runs.
    reqPerSec: result.requests.total / ((crowdEnd - crowdStart) / 1000),
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    crowdMs: crowdEnd - crowdStart,
    allFinalMs: finalAt - crowdStart,
    finalAfterCrowdMs: Math.max(0, finalAt - crowdEnd),
    ordersSpanMs,
    ordersPerSec: Number(span.n) / (ordersSpanMs / 1000),
    audit,
    i7,
    serviceRss: peakRss,
    workerRss: peakWorkerRss,
    lastOrderAfterCrowdMs: new Date(span.last).getTime() - crowdEnd
  }
}

/** Notes, every 5 ms, since when every admitted ticket of the event has been decided. */
function watchIdle (redis: Redis, keys: ReturnType<typeof createKeySpace>, eventId: number): { idleSince: number, stop: () => void } {
  const state = { idleSince: 0, running: true, stop: () => { state.running = false } }
  void (async () => {
    while (state.running) {
      const now = Date.now()
      if (await eventDecided({ redis, keys }, { id: eventId, shards: settings.shards })) {
        if (state.idleSince === 0) state.idleSince = now
      } else {
        state.idleSince = 0
      }
      await sleep(5)
    }
  })()
  return state
}

/** I7: a sample of buyers asks again; each must get exactly the ticket Redis says they hold. */
async function checkResubmits (base: string, redis: Redis, keys: ReturnType<typeof createKeySpace>, eventId: number, tokens: string[], firstUser: number): Promise<{ checked: number, same: number }> {
  const sample = Array.from({ length: Math.min(1000, tokens.length) }, (_, i) => Math.floor((i * tokens.length) / Math.min(1000, tokens.length)))
  let same = 0
  await Promise.all(sample.map(async (i) => {
    const user = String(firstUser + i)
    const shard = shardOf(user, settings.shards)
    const qpos = await redis.hget(keys.shard({ eventId, shard }).holders, user)
    const expected = qpos === null ? rejectedTicketId(eventId, shard, user) : queuedTicketId(eventId, shard, Number(qpos))
    const got = await apiClient(base).call('POST', `/api/v1/events/${eventId}/buy`, tokens[i] as string)
    if (got.data.ticket_id === expected) same++
  }))
  return { checked: sample.length, same }
}

/** BENCH_PACED: shares of the closed-loop rate, each in (0, 1], each once; anything else stops the bench at once. */
function pacedShares (text: string): number[] {
  const shares = text.split(',').map((t) => t.trim()).filter((t) => t !== '').map(Number)
  for (const share of shares) {
    if (!(share > 0 && share <= 1)) throw new Error(`BENCH_PACED: ${text} is not a list of shares in (0, 1]`)
  }
  return [...new Set(shares)]
}

/** A share as a percentage for labels: 0.07 → 7, not 7.000000000000001. */
function percentOf (share: number): number {
  return Math.round(share * 1000) / 10
}

function stat (xs: number[], digits = 0): string {
  const f = (x: number): string => x.toFixed(digits)
  return xs.length === 1 ? f(xs[0] as number) : `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`
}

interface Extra {
  /** The bare route plus one Lua call, in each round (the admitted buy's ceiling). */
  readonly oneLua: Rate[]
  /** CPU per admitted buy from the crowd's start until every ticket is decided (the drain's share in). */
  readonly beforeDecided: Array<Record<string, number>>
  readonly before: Array<Rate & { scriptsPerBuy: number, commandsPerBuy: number, commitsPerOrder: number }>
  /** The admitted buys again at fixed shares of the same round's closed-loop rate (open loop). */
  readonly paced: Array<PacedResult & { share: number, offered: number }>
  /** Entries into a draw sale during its window, in the same rounds as `before` (one per round). */
  readonly draw: Array<Rate & { entrants: number }>
  readonly after: Rate[]
  readonly poll: Rate[]
  readonly longPoll: Awaited<ReturnType<typeof longPolls>> | undefined
  readonly backlog: Array<Awaited<ReturnType<typeof backlogDrain>> & { audit: SaleAudit, ceiling: number }>
  readonly full: Round | undefined
  readonly redisBytesPerTicket: number
}

function report (baseline: Rate[], rounds: Round[], x: Extra): string {
  const base = median(baseline.map((b) => b.reqPerSec))
  const pct = (rs: Rate[]): number[] => rs.map((r) => (100 * r.reqPerSec) / base)
  const checks = (audits: SaleAudit[]): string[] => ['I1', 'I2', 'I3', 'I4', 'I5', 'I6'].map((id) => {
    const okAll = audits.every((a) => a.checks.find((c) => c.id === id)?.ok === true)
    return `| ${id} | ${okAll ? 'holds' : '**VIOLATED**'} | ${audits.map((a) => a.checks.find((c) => c.id === id)?.detail ?? '').at(-1) ?? ''} |`
  })
  const met = (ok: boolean): string => ok ? 'met' : '**not met**'
  const f = x.full
  const lp = x.longPoll
  // CPU per request against the same round's reference (the bare route, or the one-Lua route).
  const cpuOf = (r: Rate, name: string): number => r.cpuUs?.[name] ?? NaN
  const cpuTimes = (rs: Rate[], name: string, refs: Rate[], refName: string): number[] => rs.map((r, i) => cpuOf(r, name) / cpuOf(refs[i] as Rate, refName)).filter((v) => Number.isFinite(v))
  const soldOutCpu = cpuTimes(x.after, 'ingress', baseline, 'baseline')
  const admittedCpu = cpuTimes(x.before, 'ingress', x.oneLua, 'baseline')
  // Draw entries against the same round's admitted buys and bare route.
  const drawVsBuys = x.draw.map((d, i) => d.reqPerSec / (x.before[i]?.reqPerSec ?? NaN)).filter((v) => Number.isFinite(v))
  const drawPctOfRound = x.draw.map((d, i) => (100 * d.reqPerSec) / (baseline[i]?.reqPerSec ?? NaN)).filter((v) => Number.isFinite(v))
  const targets = [
    ['crowd before sell-out (admitted buys), % of baseline (drain running)', stat(pct(x.before), 1) + ' %', '≥ 25 %', met(median(pct(x.before)) >= 25)],
    ['crowd before sell-out, p99 ms', stat(x.before.map((r) => r.p99), 1), '≤ 20 ms', met(median(x.before.map((r) => r.p99)) <= 20)],
    ['admitted buy: ingress CPU per request, × the one-Lua route\'s (same round)', stat(admittedCpu, 2), '≤ 1.5×', met(admittedCpu.length > 0 && median(admittedCpu) <= 1.5)],
    ...(x.draw.length === 0 ? [] : [['draw entries (mode draw, before its close), req/s ÷ the same round\'s admitted buys', stat(drawVsBuys, 3) + '×', '≥ 1×', met(median(drawVsBuys) >= 1)]]),
    ['crowd after sell-out, % of baseline', stat(pct(x.after), 1) + ' %', '≥ 75 %', met(median(pct(x.after)) >= 75)],
    ['sold-out answer: ingress CPU per request, × the bare route\'s (same round)', stat(soldOutCpu, 2), '≤ 1.3×', met(soldOutCpu.length > 0 && median(soldOutCpu) <= 1.3)],
    ['poll of a final ticket, % of baseline', stat(pct(x.poll), 1) + ' %', '≥ 50 %', met(median(pct(x.poll)) >= 50)],
    ['drain: orders committed per second on a backlog of ' + settings.backlog.toLocaleString('en') + ' tickets (no pollers), % of the same round\'s insert ceiling (orders/s beside it)',
      x.backlog.length === 0 ? 'not run' : `${stat(x.backlog.map((b) => (100 * b.ordersPerSec) / b.ceiling), 1)} % (${stat(x.backlog.map((b) => b.ordersPerSec))} /s)`,
      '≥ 50 %', met(x.backlog.length > 0 && median(x.backlog.map((b) => (100 * b.ordersPerSec) / b.ceiling)) >= 50)],
    ['full sale: last order committed, ms after the crowd\'s last answer (negative: before it)', f === undefined ? 'not run' : stat([f.lastOrderAfterCrowdMs]), '≤ 2,000 ms', met(f !== undefined && f.lastOrderAfterCrowdMs <= 2000)],
    ['every ticket final after the crowd\'s last request, ms (all rounds and the full sale)', stat([...rounds, ...(f === undefined ? [] : [f])].map((r) => r.finalAfterCrowdMs)), '≤ 1,000 ms', met([...rounds, ...(f === undefined ? [] : [f])].every((r) => r.finalAfterCrowdMs <= 1000))]
  ]
  const all = [...rounds, ...(f === undefined ? [] : [f])]
  const us = (rs: Array<Rate | Record<string, number>>, name: string): string => {
    const v = rs.map((r) => ('reqPerSec' in r ? (r as Rate).cpuUs?.[name] : (r as Record<string, number>)[name]) ?? NaN).filter((n) => Number.isFinite(n))
    return v.length === 0 ? '–' : stat(v)
  }
  const costRows: string[][] = [
    ['bare route (`/baseline`)', stat(baseline.map((b) => b.reqPerSec)) + ' (100 %)', us(baseline, 'baseline'), '–', '–', '–', us(baseline, 'bench')],
    ['bare route + one Lua call (`/one-lua`)', `${stat(x.oneLua.map((r) => r.reqPerSec))} (${stat(pct(x.oneLua), 1)} %)`, us(x.oneLua, 'baseline'), '–', us(x.oneLua, 'redis'), us(x.oneLua, 'redis commands'), us(x.oneLua, 'bench')],
    ['admitted buy, during the crowd (drain running)', `${stat(x.before.map((r) => r.reqPerSec))} (${stat(pct(x.before), 1)} %)`, us(x.before, 'ingress'), us(x.before, 'worker'), us(x.before, 'redis'), us(x.before, 'redis commands'), us(x.before, 'bench')],
    ...(x.draw.length === 0 ? [] : [['draw entry, before the close (nothing to drain)', `${stat(x.draw.map((r) => r.reqPerSec))} (${stat(pct(x.draw), 1)} %)`, us(x.draw, 'ingress'), us(x.draw, 'worker'), us(x.draw, 'redis'), us(x.draw, 'redis commands'), us(x.draw, 'bench')]]),
    ['admitted buy, from the crowd\'s start until every ticket is decided', '–', us(x.beforeDecided, 'ingress'), us(x.beforeDecided, 'worker'), us(x.beforeDecided, 'redis'), us(x.beforeDecided, 'redis commands'), '–'],
    ['sold-out answer', `${stat(x.after.map((r) => r.reqPerSec))} (${stat(pct(x.after), 1)} %)`, us(x.after, 'ingress'), us(x.after, 'worker'), us(x.after, 'redis'), us(x.after, 'redis commands'), us(x.after, 'bench')],
    ['poll of a final ticket', `${stat(x.poll.map((r) => r.reqPerSec))} (${stat(pct(x.poll), 1)} %)`, us(x.poll, 'ingress'), us(x.poll, 'worker'), us(x.poll, 'redis'), us(x.poll, 'redis commands'), us(x.poll, 'bench')]
  ]
  const rows: string[][] = [
    ['baseline: plain Fastify route, same requests (a bearer token each), req/s', stat(baseline.map((b) => b.reqPerSec))],
    ...(x.backlog.length === 0 ? [] : [['insert ceiling: bare loop of 1,000-row inserts into `orders`, rows/s (same rounds)', stat(x.backlog.map((b) => b.ceiling))]]),
    ['before sell-out: buy req/s (every buyer admitted and queued)', stat(x.before.map((r) => r.reqPerSec))],
    ['before sell-out: p50 / p99 ms', `${stat(x.before.map((r) => r.p50), 1)} / ${stat(x.before.map((r) => r.p99), 1)}`],
    ...settings.paced.map((share) => {
      const rs = x.paced.filter((r) => r.share === share)
      return [`before sell-out, offered at ${percentOf(share)} % of the round's closed-loop rate (open loop): req/s answered, p50 / p99 ms of the 2xx`,
        `${stat(rs.map((r) => r.reqPerSec))} of ${stat(rs.map((r) => r.offered))} offered, ${stat(rs.map((r) => r.p50), 1)} / ${stat(rs.map((r) => r.p99), 1)}` +
          (rs.some((r) => r.non2xx + r.errors > 0) ? ` (not 2xx or unanswered: ${rs.map((r) => r.non2xx + r.errors).join(', ')})` : '')]
    }),
    ['before sell-out: Redis script calls (round trips) per admitted buy, ingress and drain together', stat(x.before.map((r) => r.scriptsPerBuy), 2)],
    ['before sell-out: Redis commands executed per admitted buy (inside scripts included)', stat(x.before.map((r) => r.commandsPerBuy), 1)],
    ['before sell-out: MySQL commits per committed order', stat(x.before.map((r) => r.commitsPerOrder), 3)],
    ...(x.draw.length === 0 ? [] : [
      ['draw entries (mode draw, before its close; each request a new entrant of a fresh draw): req/s', `${stat(x.draw.map((r) => r.reqPerSec))} (${stat(drawPctOfRound, 1)} % of the same round's baseline)`],
      ['draw entries: p50 / p99 ms', `${stat(x.draw.map((r) => r.p50), 1)} / ${stat(x.draw.map((r) => r.p99), 1)}`],
      ['draw entries ÷ admitted buys (before sell-out), req/s, same round', `${stat(drawVsBuys, 3)} (rounds: ${drawVsBuys.map((v) => v.toFixed(3)).join(', ')})`],
      ['draw entrants recorded, each round', x.draw.map((r) => r.entrants.toLocaleString('en')).join(', ')]
    ]),
    ['after sell-out: buy req/s', stat(x.after.map((r) => r.reqPerSec))],
    ['after sell-out: p50 / p99 ms', `${stat(x.after.map((r) => r.p50), 1)} / ${stat(x.after.map((r) => r.p99), 1)}`],
    ['poll of a final ticket: req/s', stat(x.poll.map((r) => r.reqPerSec))],
    ['poll: p50 / p99 ms', `${stat(x.poll.map((r) => r.p50), 1)} / ${stat(x.poll.map((r) => r.p99), 1)}`],
    [`${settings.buyers.toLocaleString('en')}-buyer crowd vs ${settings.stock.toLocaleString('en')} units: req/s`, stat(rounds.map((r) => r.reqPerSec)) + ` (${stat(rounds.map((r) => (100 * r.reqPerSec) / base), 1)} % of baseline)`],
    ['  p50 / p99 ms', `${stat(rounds.map((r) => r.p50), 1)} / ${stat(rounds.map((r) => r.p99), 1)}`],
    ['  every ticket final, ms after the last request', stat(rounds.map((r) => r.finalAfterCrowdMs))],
    ...(lp === undefined ? [] : [
      [`${lp.count.toLocaleString('en')} long-polls waiting on a sale: answered won`, `${lp.answered}`],
      ['  after the worker resumed: p50 / p99 / last, ms', `${lp.p50} / ${lp.p99} / ${lp.lastMs}`],
      ['  ingress RSS while they wait, MiB', lp.ingressRssMiB.toFixed(0)],
      ['  drain pace on that backlog while the ingress answers the polls, tickets decided per second', lp.drainPerSec.toFixed(0)]
    ]),
    ...(f === undefined ? [] : [
      [`full sale: ${settings.fullBuyers.toLocaleString('en')} buyers vs ${settings.fullStock.toLocaleString('en')} units: req/s`, `${f.reqPerSec.toFixed(0)} (${((100 * f.reqPerSec) / base).toFixed(1)} % of baseline), p99 ${f.p99} ms`],
      ['  first to last order committed, ms', `${f.ordersSpanMs}`],
      ['  orders committed per second', f.ordersPerSec.toFixed(0)],
      ['  every ticket final after the last request, ms', `${f.finalAfterCrowdMs}`]
    ]),
    ['ingress / worker peak RSS, MiB', `${stat(all.map((r) => r.serviceRss / 1048576))} / ${stat(all.map((r) => r.workerRss / 1048576))}`],
    ['Redis memory per admitted ticket (ticket, queue job, indexes), bytes', x.redisBytesPerTicket.toFixed(0)]
  ]
  return [
    `Service as ${settings.layout === 'one' ? 'one process (ingress and worker, as `npm start` runs it)' : 'ingress + worker processes'}; load generator on the same 2-core machine; ${settings.connections} connections; ${rounds.length} round(s), timed scenarios ${settings.seconds} s each; median (min–max).`,
    '',
    '### Targets',
    '',
    '| figure | measured | target | |',
    '|---|---|---|---|',
    ...targets.map((r) => `| ${r.join(' | ')} |`),
    '',
    '### Cost per request (CPU)',
    '',
    'Microseconds of CPU per request, from /proc (user + system) for the processes and from Redis\'s INFO (`used_cpu_*`, and commandstats\' `usec` for its commands\' time). "service" is the process answering the route (the baseline server, or the ingress); the worker drains meanwhile. Redis\'s figures count every client of that Redis (run on a private Redis for clean ones). The load generator\'s own CPU is beside.',
    '',
    '| path | req/s (% of bare) | service µs/req | worker µs/req | Redis CPU µs/req | Redis commands µs/req | load generator µs/req |',
    '|---|---|---|---|---|---|---|',
    ...costRows.map((r) => `| ${r.join(' | ')} |`),
    '',
    '### Scenarios',
    '',
    '| figure | value |',
    '|---|---|',
    ...rows.map(([k, v]) => `| ${k ?? ''} | ${v ?? ''} |`),
    '',
    '### Invariants (every audited sale)',
    '',
    '| invariant | result | detail (last sale) |',
    '|---|---|---|',
    ...checks([...all.map((r) => r.audit), ...x.backlog.map((b) => b.audit)]),
    `| I7 | ${all.every((r) => r.i7.same === r.i7.checked) ? 'holds' : '**VIOLATED**'} | ${all.map((r) => `${r.i7.same}/${r.i7.checked}`).join(', ')} resubmits returned the same ticket |`,
    '',
    `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}.`
  ].join('\n')
}

const START = settings.layout === 'one' ? '<!-- bench-one:start -->' : '<!-- bench:start -->'
const END = settings.layout === 'one' ? '<!-- bench-one:end -->' : '<!-- bench:end -->'

/** Replaces the generated section of bench/RESULTS.md; the analysis around it is kept. */
function writeResults (text: string): void {
  const file = repoPath('bench', 'RESULTS.md')
  let doc = existsSync(file) ? readFileSync(file, 'utf8') : `# Benchmark results\n\n${START}\n${END}\n`
  if (!doc.includes(START) || !doc.includes(END)) doc += `\n${START}\n${END}\n`
  const section = `${START}\nLatest \`npm run bench\` (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC):\n\n${text}\n${END}`
  writeFileSync(file, doc.slice(0, doc.indexOf(START)) + section + doc.slice(doc.indexOf(END) + END.length))
}

async function main (): Promise<void> {
  await dropDatabase(DATABASE_URL)
  const profileDir = settings.profile ? repoPath('bench', '.runs') : undefined
  const baselineChild = await startBaseline(settings.port + 1, REDIS_URL, profileDir)
  const env = {
    NODE_ENV: 'production',
    ...BENCH_PAYMENT_SETTINGS,
    LOG_LEVEL: 'warn',
    REDIS_URL,
    REDIS_PREFIX: PREFIX,
    DATABASE_URL,
    JWT_SECRET: SECRET,
    RATE_LIMIT_BUY: '1000000',
    RATE_LIMIT_POLL: '1000000',
    SHUTDOWN_DRAIN_MS: '0',
    // Passed on when set, to compare the service with and without load shedding.
    ...(process.env.OVERLOAD_EVENT_LOOP_DELAY_MS === undefined ? {} : { OVERLOAD_EVENT_LOOP_DELAY_MS: process.env.OVERLOAD_EVENT_LOOP_DELAY_MS })
  }
  const split = settings.layout === 'split'
  const ingress = await startService(settings.port, { ...env, PROCESS_ROLE: split ? 'ingress' : 'all' }, profileDir)
  const worker = split ? await startService(settings.port + 2, { ...env, ...STOPPED_WORKER_ENV, PROCESS_ROLE: 'worker', METRICS_PORT: String(settings.port + 3) }, profileDir, '/metrics', settings.port + 3) : ingress
  const service: Service = { ingress, worker, url: ingress.url }
  const redis = new Redis(REDIS_URL)
  const db = createDb(DATABASE_URL, { poolMax: 2 })
  const a = apiClient(service.url)
  const sign = createTokenSigner(SECRET)
  const admin = sign({ id: '1', role: 'admin' })
  const userToken = (u: string): string => sign({ id: u, role: 'user' })
  const keys = createKeySpace(PREFIX)
  const baseline: Rate[] = []
  const rounds: Round[] = []
  const x: { -readonly [K in keyof Extra]: Extra[K] } = { oneLua: [], beforeDecided: [], before: [], paced: [], draw: [], after: [], poll: [], longPoll: undefined, backlog: [], full: undefined, redisBytesPerTicket: 0 }
  // CPU per request of each timed run: the processes answering, the worker, Redis, and this load generator.
  const pids = { baseline: baselineChild.process.pid, ingress: ingress.process.pid, ...(split ? { worker: worker.process.pid } : {}), bench: process.pid }
  const metered: Metered = { pids, redis }
  // Each metered run's stretch of the monotonic clock, to cut the profiles by path (profile-summary.ts).
  const windows: Window[] = []
  const timed = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    const startUs = nowUs()
    try { return await run() } finally { windows.push({ name, startUs, endUs: nowUs() }) }
  }
  const S = settings.seconds
  const C = settings.connections
  const baselineTokens = Array.from({ length: 50_000 }, (_, i) => userToken(String(900_000_000 + i)))
  try {
    // The baseline server's routes are compiled (JIT) before the first metered round, as the
    // ingress's are by the round's crowd before its own metered runs.
    await baselineRun(baselineChild.url, 2, C, (i) => baselineTokens[i % baselineTokens.length] as string)
    await oneLuaRun(baselineChild.url, 2, C, (i) => baselineTokens[i % baselineTokens.length] as string)
    for (let round = 0; round < settings.rounds; round++) {
      baseline.push(await timed('bare route', async () => await baselineRun(baselineChild.url, settings.baselineSeconds, C, (i) => baselineTokens[i % baselineTokens.length] as string, metered)))
      x.oneLua.push(await timed('one Lua call', async () => await oneLuaRun(baselineChild.url, settings.baselineSeconds, C, (i) => baselineTokens[i % baselineTokens.length] as string, metered)))
      const r = await runRound(service, round, redis, db)
      rounds.push(r)
      process.stdout.write(`round ${round + 1}: crowd ${r.reqPerSec.toFixed(0)} req/s, p99 ${r.p99} ms, audit ${r.audit.ok ? 'ok' : 'FAILED'}, I7 ${r.i7.same}/${r.i7.checked}\n`)

      // Before sell-out: stock far above the crowd, every buyer admitted and queued.
      const big = await createEvent(a, admin, 10_000_000, 1)
      const users = Array.from({ length: 200_000 }, (_, i) => String(10_000_000 * (round + 1) + i))
      const tokens = users.map(userToken)
      const c0 = await counters(redis, db)
      const untilDecided = await costMeter(pids, redis)
      const before = await timed('admitted buy', async () => await timedRun(service.url, S, C, 'POST', () => `/api/v1/events/${big}/buy`, (i) => tokens[i % tokens.length] as string, metered))
      await waitDecided(redis, keys, big, 1, 120_000)
      const c1 = await counters(redis, db)
      const admitted = Number(await redis.get(keys.shard({ eventId: big, shard: 0 }).qseq) ?? 0)
      const orders = Number((await db('orders').where({ event_id: big }).count({ n: '*' }).first() as { n: number }).n)
      x.beforeDecided.push(await untilDecided(admitted))
      if (round === 0) x.redisBytesPerTicket = Math.max(0, c1.redisMemory - c0.redisMemory) / Math.max(1, admitted)
      x.before.push({
        ...before,
        scriptsPerBuy: (c1.scriptCalls - c0.scriptCalls) / Math.max(1, admitted),
        commandsPerBuy: (c1.redisCommands - c0.redisCommands) / Math.max(1, admitted),
        commitsPerOrder: (c1.mysqlCommits - c0.mysqlCommits) / Math.max(1, orders)
      })

      // The same buys offered at a fixed pace below that most (a fresh sale each, drain running):
      // the closed loop's latency is its own queue; this is what a crowd arriving at a rate sees.
      for (const share of settings.paced) {
        const paced = await createEvent(a, admin, 10_000_000, 1)
        const offered = share * before.reqPerSec
        const run = await timed(`admitted buy at ${percentOf(share)} %`, async () => await pacedRun({ base: service.url, seconds: S, rate: offered, connections: C, method: 'POST', pathOf: () => `/api/v1/events/${paced}/buy`, tokenOf: (i) => tokens[i % tokens.length] as string }))
        await waitDecided(redis, keys, paced, 1, 120_000)
        x.paced.push({ ...run, share, offered })
        process.stdout.write(`round ${round + 1}: admitted buys offered at ${offered.toFixed(0)}/s (${percentOf(share)} %): ${run.reqPerSec.toFixed(0)}/s, p50 ${run.p50} ms, p99 ${run.p99} ms, max ${run.max} ms, ${run.non2xx} not 2xx, ${run.errors} unanswered, sender lag p99 ${run.senderLagP99} ms max ${run.senderLagMax} ms\n`)
      }

      // Entries into a draw sale, measured as the admitted buys are (same connections, duration and
      // one distinct buyer per request): a fresh draw each round, so every request is a new entry.
      const drawEvent = await createDrawEvent(a, admin, 10_000_000)
      const entrantTokens = Array.from({ length: 200_000 }, (_, i) => userToken(String(10_000_000 * (round + 1) + 500_000 + i)))
      const entries = await timed('draw entry', async () => await timedRun(service.url, S, C, 'POST', () => `/api/v1/events/${drawEvent}/buy`, (i) => entrantTokens[i % entrantTokens.length] as string, metered))
      const entrants = await redis.hlen(keys.shard({ eventId: drawEvent, shard: 0 }).entrants)
      if (entries.non2xx > 0 || entrants === 0) throw new Error(`draw ${drawEvent}: ${entries.non2xx} entries refused, ${entrants} entrants`)
      x.draw.push({ ...entries, entrants })
      process.stdout.write(`round ${round + 1}: draw entries ${entries.reqPerSec.toFixed(0)} req/s ${(entries.cpuUs?.ingress ?? NaN).toFixed(0)} µs/req (${entrants} entrants), ` +
        `${(entries.reqPerSec / before.reqPerSec).toFixed(3)}× the admitted buys\n`)

      // Polls of final tickets (the ones just won), each by its owner.
      const holders = await redis.hgetall(keys.shard({ eventId: big, shard: 0 }).holders)
      const won = Object.entries(holders).slice(0, 20_000)
      const wonTokens = won.map(([u]) => userToken(u))
      x.poll.push(await timed('poll of a final ticket', async () => await timedRun(service.url, S, C, 'GET', (i) => `/api/v1/tickets/${big}-0-${won[i % won.length]?.[1] ?? '1'}`, (i) => wonTokens[i % wonTokens.length] as string, metered)))

      // After sell-out: the event is announced sold out; new buyers are answered by the ingress.
      const gone = await createEvent(a, admin, 1, 1)
      await a.call('POST', `/api/v1/events/${gone}/buy`, userToken('42'))
      await waitDecided(redis, keys, gone, 1, 30_000)
      const deadline = Date.now() + 10_000
      while ((await a.call('GET', `/api/v1/events/${gone}`, admin)).data.status !== 'sold_out' && Date.now() < deadline) await sleep(20)
      await sleep(300) // the ingress loads the holders on the announcement
      x.after.push(await timed('sold-out answer', async () => await timedRun(service.url, S, C, 'POST', () => `/api/v1/events/${gone}/buy`, (i) => tokens[(i + 100_000) % tokens.length] as string, metered)))
      const cpu = (r: Rate | undefined, name: string): string => (r?.cpuUs?.[name] ?? NaN).toFixed(0)
      process.stdout.write(`round ${round + 1}: bare ${baseline.at(-1)?.reqPerSec.toFixed(0) ?? ''} req/s ${cpu(baseline.at(-1), 'baseline')} µs/req, one-lua ${x.oneLua.at(-1)?.reqPerSec.toFixed(0) ?? ''} req/s ${cpu(x.oneLua.at(-1), 'baseline')} µs/req, ` +
        `before sell-out ${before.reqPerSec.toFixed(0)} req/s ${cpu(before, 'ingress')} µs/req, after ${x.after.at(-1)?.reqPerSec.toFixed(0) ?? ''} req/s ${cpu(x.after.at(-1), 'ingress')} µs/req, poll ${x.poll.at(-1)?.reqPerSec.toFixed(0) ?? ''} req/s ${cpu(x.poll.at(-1), 'ingress')} µs/req\n`)

      // The drain's own pace on a backlog, nobody polling.
      // (It pauses the worker: not in the one-process layout.)
      if (settings.backlog > 0 && split) {
        const drained = await backlogDrain(a, worker, redis, keys, admin, userToken, settings.backlog, 60_000_000 + round * 1_000_000)
        const audit = await auditSale(db, redis, keys, drained.eventId)
        const ceiling = await insertCeiling(db, drained.eventId, settings.backlog, 80_000_000 + round * 1_000_000)
        x.backlog.push({ ...drained, audit, ceiling })
        process.stdout.write(`round ${round + 1}: backlog of ${drained.count} drained in ${drained.ms} ms (${drained.ordersPerSec.toFixed(0)} orders/s, insert ceiling ${ceiling.toFixed(0)} rows/s), audit ${audit.ok ? 'ok' : 'FAILED'}\n`)
      }
    }
    if (settings.longPolls > 0 && split) {
      x.longPoll = await longPolls(a, ingress, worker, redis, keys, admin, userToken, settings.longPolls)
      process.stdout.write(`long-polls: ${x.longPoll.answered}/${x.longPoll.count} won, p99 ${x.longPoll.p99} ms after resume\n`)
    }
    if (settings.fullBuyers > 0) {
      x.full = await runRound(service, 90, redis, db, settings.fullBuyers, settings.fullStock)
      process.stdout.write(`full sale: ${x.full.reqPerSec.toFixed(0)} req/s, ${x.full.ordersPerSec.toFixed(0)} orders/s, audit ${x.full.audit.ok ? 'ok' : 'FAILED'}\n`)
    }
  } finally {
    await ingress.stop()
    if (split) await worker.stop()
    await baselineChild.stop()
    await deleteKeysWithPrefix(redis, `${PREFIX}:`)
    redis.disconnect()
    await db.destroy()
  }
  if (profileDir !== undefined) {
    mkdirSync(profileDir, { recursive: true })
    writeFileSync(join(profileDir, `windows-${process.pid}.json`), JSON.stringify(windows))
  }
  const text = report(baseline, rounds, x)
  process.stdout.write(`\n${text}\n`)
  if (settings.write) writeResults(text)
  const all = [...rounds, ...(x.full === undefined ? [] : [x.full])]
  const failed = all.some((r) => !r.audit.ok || r.i7.same !== r.i7.checked) || x.backlog.some((b) => !b.audit.ok)
  process.exit(failed ? 1 : 0)
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
