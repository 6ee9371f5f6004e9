/**
 * What every fault drill shares: an isolated sale (its own Redis prefix and MySQL database), the
 * service's processes started as real children (so they can be killed with SIGKILL), a crowd of
 * buyers that behaves like real clients (retries on a dropped connection or a 503, fails over to
 * another ingress), and the verdict: every admitted ticket read back through the API and checked
 * against MySQL, and the sale audited against I1–I6 (I7 is checked on the crowd's answers).
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import { repoPath } from '../../src/util/paths'
import { auditSale } from '../../src/sale'
import type { InvariantCheck } from '../../src/sale'
import { eventDecided } from '../../src/stock'
import { LIVE_ORDER_STATUSES } from '../../src/shared/order-statuses'
import { createRedis } from '../../src/redis/client'
import { isolatedEnv } from '../../test/helpers/env'
import { freePort } from '../../test/helpers/ports'
import type { TestEnv } from '../../test/helpers/env'
import { createSale, httpClient, pool, returnsApplied } from '../../test/helpers/sale'
import type { Http, SaleSpec } from '../../test/helpers/sale'

/** One line of the drill table. */
export interface DrillResult {
  readonly name: string
  /** What was broken, in words. */
  readonly broke: string
  /** How long it stayed broken (ms). */
  readonly brokenMs: number
  readonly requests: number
  /** Requests that got an HTTP answer below 500 (a 503 shed or a dropped connection is not served). */
  readonly served: number
  /** Admitted tickets that never reached a final state, or that the API no longer knows. */
  readonly lost: number
  /** Live orders beyond the stock, plus any gap between `sold` and the live orders. */
  readonly oversold: number
  /** Buyers with two live orders, ticket ids used twice, buyers given two tickets, units returned twice. */
  readonly duplicated: number
  /** From the repair until every admitted ticket was final (ms). */
  readonly recoverMs: number
  readonly checks: readonly InvariantCheck[]
  /** Anything else the drill asserted, each with whether it held. */
  readonly extra: ReadonlyArray<{ readonly what: string, readonly ok: boolean }>
  readonly ok: boolean
}

export interface Drill {
  readonly name: string
  readonly run: () => Promise<DrillResult>
}

export { freePort }

/** A service process of the drill: `all`, `ingress` or `worker`. */
export class ServiceChild {
  private child: ChildProcess | undefined
  private exited: Promise<void> = Promise.resolve()
  private log = ''
  readonly url: string

  constructor (private readonly env: Record<string, string>, readonly port: number) {
    this.url = `http://127.0.0.1:${port}`
  }

  get role (): string {
    return this.env.PROCESS_ROLE ?? 'all'
  }

  get pid (): number | undefined {
    return this.child?.pid
  }

  get alive (): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  /** Last lines the process wrote (for a failing drill's report). */
  output (): string {
    return this.log.slice(-3000)
  }

  async start (): Promise<void> {
    const child = spawn(process.execPath, [repoPath('dist', 'src', 'server.js')], {
      env: { PATH: process.env.PATH ?? '', ...this.env, PORT: String(this.port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const keep = (d: Buffer): void => { this.log = (this.log + d.toString()).slice(-20_000) }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()))
    this.child = child
    if (this.env.PROCESS_ROLE === 'worker') return
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      if (!this.alive) throw new Error(`service on ${this.port} exited at start: ${this.output()}`)
      try {
        if ((await fetch(`${this.url}/healthz`)).ok) return
      } catch { /* not listening yet */ }
      await sleep(50)
    }
    throw new Error(`service on ${this.port} did not start in 60 s`)
  }

  /** kill -9: no shutdown, no cleanup. */
  async kill (): Promise<void> {
    if (!this.alive) return
    this.child?.kill('SIGKILL')
    await this.exited
  }

  async stop (): Promise<void> {
    if (!this.alive) return
    this.child?.kill('SIGTERM')
    await Promise.race([this.exited, sleep(20_000)])
    await this.kill()
  }
}

/** The answers one buyer got. */
interface BuyerRecord {
  readonly user: string
  /** Every ticket id the service handed this buyer (I7: exactly one). */
  readonly tickets: Set<string>
  /** Final status at the gate (200 answers), or `queued`. */
  status: string | undefined
}

export interface BuyOptions {
  /** Sends `Idempotency-Key` (one per buyer), as a client retrying a dropped request would. */
  readonly idempotencyKey?: boolean
  /** Gives up after this long without an answer below 500 (ms). */
  readonly patienceMs?: number
  /** Each of the crowd's clients waits this long between two buyers (spreads a crowd over time). */
  readonly paceMs?: number
}

/**
 * A sale under a drill, with its crowd. Ingress URLs may change (processes killed and restarted);
 * buyers try them in turn, as behind a load balancer.
 */
export class DrillSale {
  requests = 0
  served = 0
  /** Requests answered 5xx or dropped (each retried). */
  failed = 0
  readonly buyers = new Map<string, BuyerRecord>()
  eventId = 0
  private readonly children: ServiceChild[] = []
  private nextBase = 0

  private constructor (readonly env: TestEnv, private readonly dispose: () => Promise<void>, readonly stock: number, readonly shards: number) {}

  static async open (overrides: Record<string, string>, spec: { stock: number, shards?: number }): Promise<DrillSale> {
    const { env, dispose } = await isolatedEnv({ LEASE_MS: '1500', DISCOVERY_MS: '100', GAP_GRACE_MS: '300', LOG_LEVEL: 'warn', ...overrides })
    return new DrillSale(env, dispose, spec.stock, spec.shards ?? 1)
  }

  /** Starts a service process with this sale's environment (plus `extra`). */
  async process (role: 'all' | 'ingress' | 'worker', extra: Record<string, string> = {}): Promise<ServiceChild> {
    const child = new ServiceChild({ ...this.env.env, PROCESS_ROLE: role, ...extra }, await freePort())
    this.children.push(child)
    const workersBefore = await this.env.redis.zcard(this.env.keys.workers)
    await child.start()
    // A worker has no HTTP port: it is up once it has joined the live workers.
    const deadline = Date.now() + 60_000
    while (role === 'worker' && await this.env.redis.zcard(this.env.keys.workers) <= workersBefore) {
      if (!child.alive || Date.now() > deadline) throw new Error(`worker did not start: ${child.output()}`)
      await sleep(50)
    }
    return child
  }

  /** Ingress processes alive now. */
  ingresses (): ServiceChild[] {
    return this.children.filter((c) => c.alive && c.role !== 'worker')
  }

  http (): Http {
    const live = this.ingresses()
    if (live.length === 0) throw new Error('no ingress is running')
    return httpClient((live[this.nextBase++ % live.length] as ServiceChild).url)
  }

  async createEvent (spec: Omit<SaleSpec, 'stock' | 'shards'> = {}): Promise<number> {
    this.eventId = await createSale(this.http(), this.env, { stock: this.stock, shards: this.shards, ...spec })
    return this.eventId
  }

  /** Units sold so far (MySQL). */
  async sold (): Promise<number> {
    return (await this.env.db('seckill_events').first('sold').where({ id: this.eventId }) as { sold: number }).sold
  }

  /** One buyer buys, retrying (on another ingress) until answered below 500 or out of patience. */
  async buy (user: string, opts: BuyOptions = {}): Promise<void> {
    const record = this.buyers.get(user) ?? { user, tickets: new Set<string>(), status: undefined }
    this.buyers.set(user, record)
    const headers: Record<string, string> = opts.idempotencyKey === true ? { 'idempotency-key': `drill-${user}` } : {}
    const deadline = Date.now() + (opts.patienceMs ?? 30_000)
    while (Date.now() < deadline) {
      this.requests++
      try {
        const r = await this.http().request('POST', `/api/v1/events/${this.eventId}/buy`, { token: this.env.token(user), headers })
        if (r.status < 500) this.served++
        else this.failed++
        if (r.status === 200 || r.status === 202) {
          record.tickets.add(r.body.data.ticket_id as string)
          record.status = r.body.data.status as string
          return
        }
        if (r.status < 500 && r.status !== 429) throw new Error(`buy answered ${r.status}: ${JSON.stringify(r.body)}`)
      } catch (err) {
        if (err instanceof Error && err.message.startsWith('buy answered')) throw err
        // A dropped connection: the client retries.
        this.failed++
      }
      await sleep(100)
    }
  }

  /** `count` new buyers (ids from `from`), `concurrency` at a time. */
  async crowd (from: number, count: number, concurrency: number, opts: BuyOptions = {}): Promise<void> {
    await pool(Array.from({ length: count }, (_, i) => String(from + i)), concurrency, async (u) => {
      await this.buy(u, opts)
      if (opts.paceMs !== undefined) await sleep(opts.paceMs)
    })
  }

  /**
   * Waits until the workers are idle: every admitted ticket decided and every unit that came back
   * applied by its shard's owner. Returns how long that took (ms).
   */
  async settle (redis: Redis = this.env.redis, ms = 90_000): Promise<number> {
    const started = Date.now()
    const event = { id: this.eventId, shards: this.shards }
    while (!await eventDecided({ redis, keys: this.env.keys }, event) || !await returnsApplied(this.env, this.eventId)) {
      if (Date.now() - started > ms) throw new Error(`the sale did not settle in ${ms} ms`)
      await sleep(50)
    }
    return Date.now() - started
  }

  /**
   * Reads back every ticket the crowd was given and checks them against MySQL; audits I1–I6.
   * `lostStateOk`: tickets reading `failed` with reason `lost_in_redis` are the designed end of
   * tickets Redis lost (no persistence), so they count as final, not lost.
   */
  async verdict (base: { name: string, broke: string, brokenMs: number, recoverMs: number, redis?: Redis, lostStateOk?: boolean, extra?: DrillResult['extra'] }): Promise<DrillResult> {
    const redis = base.redis ?? this.env.redis
    const orders = await this.env.db('orders').select('id', 'ticket_id', 'user_id', 'status').where({ event_id: this.eventId }) as Array<{ id: number, ticket_id: string, user_id: number | string, status: string }>
    const live = orders.filter((o) => (LIVE_ORDER_STATUSES as readonly string[]).includes(o.status))
    const event = await this.env.db('seckill_events').first('stock', 'sold').where({ id: this.eventId }) as { stock: number, sold: number }
    const orderOfTicket = new Map(orders.map((o) => [o.ticket_id, o]))

    let lost = 0
    let lostState = 0
    let wrong = 0
    let twoTickets = 0
    const queued = [...this.buyers.values()].filter((b) => b.tickets.size > 0)
    await pool(queued, 20, async (b) => {
      if (b.tickets.size > 1) twoTickets++
      for (const id of b.tickets) {
        const r = await this.readTicket(id, b.user)
        const status = r?.status
        if (status === undefined || status === 'queued') { lost++; continue }
        if (status === 'failed' && r?.reason === 'lost_in_redis') {
          lostState++
          if (base.lostStateOk !== true) lost++
          continue
        }
        const order = orderOfTicket.get(id)
        if (status === 'won' && (order === undefined || String(order.user_id) !== b.user || String(order.id) !== r?.order_id)) wrong++
        if (status !== 'won' && order !== undefined) wrong++
      }
    })
    const perUser = new Map<string, number>()
    for (const o of live) perUser.set(String(o.user_id), (perUser.get(String(o.user_id)) ?? 0) + 1)
    const doubleOrders = [...perUser.values()].filter((n) => n > 1).length
    const doubleTickets = orders.length - new Set(orders.map((o) => o.ticket_id)).size
    const audit = await auditSale(this.env.db, redis, this.env.keys, this.eventId)
    const unitsOff = audit.checks.find((c) => c.id === 'I6')?.ok === false ? 1 : 0
    const oversold = Math.max(0, live.length - event.stock) + Math.abs(event.sold - live.length)
    const duplicated = doubleOrders + doubleTickets + twoTickets + unitsOff
    const extra = [...(base.extra ?? []), { what: 'every won ticket matches its order in MySQL, and only won tickets have one', ok: wrong === 0 }]
    if (base.lostStateOk === true) extra.push({ what: `${lostState} tickets whose state Redis lost read failed (lost_in_redis); none hangs`, ok: true })
    const ok = lost === 0 && oversold === 0 && duplicated === 0 && audit.checks.every((c) => c.ok) && extra.every((e) => e.ok)
    return {
      name: base.name,
      broke: base.broke,
      brokenMs: base.brokenMs,
      requests: this.requests,
      served: this.served,
      lost,
      oversold,
      duplicated,
      recoverMs: base.recoverMs,
      checks: audit.checks,
      extra,
      ok
    }
  }

  private async readTicket (id: string, user: string): Promise<{ status: string, reason?: string, order_id?: string } | undefined> {
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        const r = await this.http().request('GET', `/api/v1/tickets/${id}`, { token: this.env.token(user) })
        if (r.status === 200) return r.body.data
        if (r.status === 404) return undefined
      } catch { /* retry */ }
      await sleep(100)
    }
    return undefined
  }

  /** The service processes' last log lines, for a failing drill. */
  printOutputs (): void {
    for (const c of this.children) process.stderr.write(`--- ${c.role} on ${c.port}:\n${c.output()}\n`)
  }

  async close (): Promise<void> {
    await Promise.all(this.children.map(async (c) => await c.stop()))
    await this.dispose()
  }
}

/** A Redis client for a drill's own redis-server, closed with the sale. */
export function redisAt (url: string): Redis {
  return createRedis(url, { name: 'drill' })
}

/** An order waiting for its payment: its id and its buyer. */
export interface PendingOrder { readonly id: number, readonly user_id: number | string }

/** The sale's orders waiting for payment, oldest first. */
export async function pendingOrders (sale: DrillSale): Promise<PendingOrder[]> {
  return await sale.env.db('orders').select('id', 'user_id').where({ event_id: sale.eventId, status: 'pending_payment' }).orderBy('id') as PendingOrder[]
}

/** The sale's orders counted by status. */
export async function countByStatus (sale: DrillSale): Promise<Record<string, number>> {
  const rows = await sale.env.db('orders').select('status').count({ n: '*' }).where({ event_id: sale.eventId }).groupBy('status') as Array<{ status: string, n: number | string }>
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]))
}

/** Runs `fn` with a fresh sale, always closing it. */
export async function withSale (overrides: Record<string, string>, spec: { stock: number, shards?: number }, fn: (sale: DrillSale) => Promise<DrillResult>): Promise<DrillResult> {
  const sale = await DrillSale.open(overrides, spec)
  try {
    const result = await fn(sale)
    if (!result.ok) sale.printOutputs()
    return result
  } catch (err) {
    sale.printOutputs()
    throw err
  } finally {
    await sale.close()
  }
}

export { sleep }
