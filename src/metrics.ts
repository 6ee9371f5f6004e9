/**
 * Prometheus metrics of a process. One registry per process. Worker threads report their batch
 * results to the dispatcher, which records them here, so thread work is counted once and scraped
 * with the process. No user ids in labels: shards are labelled `e<event>.<shard>`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export interface ShardGaugeSource {
  /** Undecided tickets, positions admitted but not decided, and age of the oldest undecided (s). */
  shardDepths: () => Promise<Array<{ shard: string, pending: number, backlog: number, lagSeconds: number, stock: number }>>
}

export interface PoolGaugeSource {
  poolStats: () => { mysqlUsed: number, mysqlFree: number, mysqlPending: number, redisReady: number }
}

export interface WaitingGaugeSource {
  /** Long-polls waiting in this process now, and the cap. */
  waiting: () => { waiting: number, max: number }
}

export interface PaymentGaugeSource {
  /** Payments by status (pending, failed, captured, refunding, refunded), from MySQL at scrape time. */
  paymentsByStatus: () => Promise<Record<string, number>>
}

export interface Metrics {
  readonly registry: Registry
  readonly buys: Counter<'outcome'>
  readonly httpDuration: Histogram<'route' | 'method' | 'status'>
  readonly admitSeconds: Histogram
  readonly queueWaitSeconds: Histogram
  readonly ticketSeconds: Histogram
  readonly drainBatchSize: Histogram
  readonly drainBatchSeconds: Histogram<'stage'>
  readonly ticketsDecided: Counter<'status'>
  readonly ordersCommitted: Counter
  readonly recoveredTickets: Counter
  readonly ordersExpired: Counter
  readonly leaseMoves: Counter<'move'>
  readonly securityEvents: Counter<'kind'>
  /** Long-polls answered at once instead of waiting: `buyer_limit` (the buyer's own cap) or `ingress_full` (503). */
  readonly pollsRefused: Counter<'reason'>
  readonly shed: Counter<'route' | 'reason'>
  /** The worker's drain breaker: 0 closed, 1 half-open (probing), 2 open (workers/drain-breaker.ts). */
  readonly drainBreakerState: Gauge
  readonly drainBreakerTransitions: Counter<'to'>
  readonly drainBatchFailures: Counter
  /** Shards forgotten and rebuilt from MySQL because their Redis Cluster node changed (a failover), by who noticed. */
  readonly failoverResets: Counter<'by'>
  /** What payment calls and provider events did (created, paid, late_refund, duplicate, refunded, ...). */
  readonly payments: Counter<'outcome'>
  /** Registers the scrape-time sources (worker: shard depths; every process: pools; ingress: waiting). */
  watch: (sources: { shards?: ShardGaugeSource, pools?: PoolGaugeSource, waiting?: WaitingGaugeSource, payments?: PaymentGaugeSource }) => void
}

export function createMetrics (role: string): Metrics {
  const registry = new Registry()
  registry.setDefaultLabels({ role })
  collectDefaultMetrics({ register: registry })
  const r = [registry]
  const sources: { shards?: ShardGaugeSource, pools?: PoolGaugeSource, waiting?: WaitingGaugeSource, payments?: PaymentGaugeSource } = {}

  // The three shard gauges share one Redis read per scrape (the registry gathers concurrently).
  let depths: { at: number, value: ReturnType<ShardGaugeSource['shardDepths']> } | undefined
  const readDepths = async (): Promise<Awaited<ReturnType<ShardGaugeSource['shardDepths']>>> => {
    if (sources.shards === undefined) return []
    if (depths === undefined || Date.now() - depths.at > 250) depths = { at: Date.now(), value: sources.shards.shardDepths() }
    return await depths.value
  }
  const shardGauge = (name: string, help: string, pick: (d: Awaited<ReturnType<ShardGaugeSource['shardDepths']>>[number]) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['shard'],
      registers: r,
      async collect () {
        this.reset()
        for (const d of await readDepths()) this.set({ shard: d.shard }, pick(d))
      }
    })
  }
  shardGauge('seckill_shard_pending_tickets', 'Admitted tickets of an owned shard not yet decided', (d) => d.pending)
  shardGauge('seckill_shard_backlog', 'Queue positions admitted but not yet decided (FIFO mark behind the last admitted)', (d) => d.backlog)
  shardGauge('seckill_shard_lag_seconds', 'Age of the oldest undecided ticket of an owned shard', (d) => d.lagSeconds)
  shardGauge('seckill_shard_remaining_units', 'Unreserved units of an owned shard (sum by event for what is left of a sale)', (d) => d.stock)
  new Gauge({
    name: 'seckill_pool_connections',
    help: 'Connections of the MySQL pool by state, and Redis readiness',
    labelNames: ['pool', 'state'],
    registers: r,
    collect () {
      if (sources.pools === undefined) return
      const s = sources.pools.poolStats()
      this.set({ pool: 'mysql', state: 'used' }, s.mysqlUsed)
      this.set({ pool: 'mysql', state: 'free' }, s.mysqlFree)
      this.set({ pool: 'mysql', state: 'pending_acquire' }, s.mysqlPending)
      this.set({ pool: 'redis', state: 'ready' }, s.redisReady)
    }
  })

  new Gauge({
    name: 'seckill_long_polls_waiting',
    help: 'Long-polls waiting in this ingress (state="waiting") and the cap past which new ones get 503 (state="max")',
    labelNames: ['state'],
    registers: r,
    collect () {
      if (sources.waiting === undefined) return
      const w = sources.waiting.waiting()
      this.set({ state: 'waiting' }, w.waiting)
      this.set({ state: 'max' }, w.max)
    }
  })

  new Gauge({
    name: 'seckill_payments',
    help: 'Payments by status (pending, failed, captured, refunding, refunded), read from MySQL at scrape time',
    labelNames: ['status'],
    registers: r,
    async collect () {
      if (sources.payments === undefined) return
      // MySQL away: the scrape keeps the last figures rather than failing (the other metrics are
      // most needed exactly then).
      const byStatus = await sources.payments.paymentsByStatus().catch(() => undefined)
      for (const [status, n] of Object.entries(byStatus ?? {})) this.set({ status }, n)
    }
  })

  return {
    registry,
    payments: new Counter({ name: 'seckill_payment_outcomes_total', help: 'Payment calls and provider events by what they did: created, paid, late_refund (money after expiry or cancel, refunded), failed, refunded, refund_retry, refund_failed, duplicate (an event seen before), already_settled, unknown_payment, ignored', labelNames: ['outcome'], registers: r }),
    buys: new Counter({ name: 'seckill_buy_requests_total', help: 'Buy requests by answer (queued, existing, sold_out, sold_out_local, banned, rate_limited)', labelNames: ['outcome'], registers: r }),
    httpDuration: new Histogram({ name: 'seckill_http_request_duration_seconds', help: 'HTTP request duration', labelNames: ['route', 'method', 'status'], buckets: LATENCY_BUCKETS, registers: r }),
    admitSeconds: new Histogram({ name: 'seckill_admit_seconds', help: 'Admission (the admitBuyer script) as the ingress sees it', buckets: LATENCY_BUCKETS, registers: r }),
    queueWaitSeconds: new Histogram({ name: 'seckill_queue_wait_seconds', help: 'From admission to the start of the ticket\'s drain batch', buckets: LATENCY_BUCKETS, registers: r }),
    ticketSeconds: new Histogram({ name: 'seckill_ticket_seconds', help: 'From admission until the ticket is decided (end to end)', buckets: LATENCY_BUCKETS, registers: r }),
    drainBatchSize: new Histogram({ name: 'seckill_drain_batch_size', help: 'Tickets per drain batch', buckets: [1, 5, 10, 50, 100, 250, 500, 1000, 2500], registers: r }),
    drainBatchSeconds: new Histogram({ name: 'seckill_drain_stage_seconds', help: 'Time of a drain batch by stage (reserve, order_write, finish, and the whole batch)', labelNames: ['stage'], buckets: LATENCY_BUCKETS, registers: r }),
    ticketsDecided: new Counter({ name: 'seckill_tickets_decided_total', help: 'Tickets decided by the drain, by status', labelNames: ['status'], registers: r }),
    ordersCommitted: new Counter({ name: 'seckill_orders_committed_total', help: 'Orders written by the drain (rate() gives orders per second)', registers: r }),
    recoveredTickets: new Counter({ name: 'seckill_tickets_recovered_total', help: 'Admitted tickets served without their job (recovered from Redis by the drain)', registers: r }),
    ordersExpired: new Counter({ name: 'seckill_orders_expired_total', help: 'Orders expired at their payment deadline, judged on the MySQL clock', registers: r }),
    securityEvents: new Counter({ name: 'seckill_security_events_total', help: 'Security events: failed logins, refused tokens, forbidden, banned, rate-limited, weak passwords, refused buy tokens, admin writes', labelNames: ['kind'], registers: r }),
    drainBreakerState: new Gauge({ name: 'seckill_drain_breaker_state', help: 'The worker\'s drain breaker: 0 closed (batches run), 1 half-open (probing Redis and MySQL), 2 open (no batch launched)', registers: r }),
    drainBatchFailures: new Counter({ name: 'seckill_drain_batch_failures_total', help: 'Drain batches that failed (a stage threw or timed out) and were queued again', registers: r }),
    failoverResets: new Counter({ name: 'seckill_failover_resets_total', help: 'Shards found on another Redis Cluster node than they were warmed on (a replica took over a failed master) and rebuilt from MySQL, by who noticed (ingress, worker)', labelNames: ['by'], registers: r }),
    drainBreakerTransitions: new Counter({ name: 'seckill_drain_breaker_transitions_total', help: 'Drain breaker state changes, by the state entered', labelNames: ['to'], registers: r }),
    shed: new Counter({ name: 'seckill_requests_shed_total', help: 'Buys and polls answered 503 OVERLOADED because the ingress was saturated, by route and by what was over its bound (eventLoopDelay, heapUsedBytes)', labelNames: ['route', 'reason'], registers: r }),
    pollsRefused: new Counter({ name: 'seckill_long_polls_refused_total', help: 'Long-polls answered at once: buyer_limit (over the buyer\'s cap, answered with the ticket as it is) or ingress_full (503)', labelNames: ['reason'], registers: r }),
    leaseMoves: new Counter({ name: 'seckill_lease_moves_total', help: 'Shard leases taken, given back or lost by this process', labelNames: ['move'], registers: r }),
    watch (s) {
      if (s.shards !== undefined) sources.shards = s.shards
      if (s.pools !== undefined) sources.pools = s.pools
      if (s.waiting !== undefined) sources.waiting = s.waiting
      if (s.payments !== undefined) sources.payments = s.payments
    }
  }
}
