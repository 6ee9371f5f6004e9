/**
 * Prometheus metrics of a process. One registry per process; worker threads report their batch
 * results to the dispatcher, which records them here, so thread work is counted once.
 * No user ids in labels.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface Metrics {
  readonly registry: Registry
  readonly buys: Counter<'outcome'>
  readonly httpDuration: Histogram<'route' | 'method' | 'status'>
  readonly drainBatchSize: Histogram
  readonly drainBatchSeconds: Histogram<'stage'>
  readonly ticketsDecided: Counter<'status'>
  readonly recoveredTickets: Counter
  readonly ordersExpired: Counter
}

export function createMetrics (role: string): Metrics {
  const registry = new Registry()
  registry.setDefaultLabels({ role })
  collectDefaultMetrics({ register: registry })
  return {
    registry,
    buys: new Counter({ name: 'seckill_buy_requests_total', help: 'Buy requests by answer', labelNames: ['outcome'], registers: [registry] }),
    httpDuration: new Histogram({
      name: 'seckill_http_request_duration_seconds',
      help: 'HTTP request duration',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30],
      registers: [registry]
    }),
    drainBatchSize: new Histogram({ name: 'seckill_drain_batch_size', help: 'Tickets per drain batch', buckets: [1, 5, 10, 50, 100, 250, 500, 1000, 2500], registers: [registry] }),
    drainBatchSeconds: new Histogram({
      name: 'seckill_drain_stage_seconds',
      help: 'Time of a drain batch by stage (reserve, order write, whole batch)',
      labelNames: ['stage'],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: [registry]
    }),
    ticketsDecided: new Counter({ name: 'seckill_tickets_decided_total', help: 'Tickets decided by the drain, by status', labelNames: ['status'], registers: [registry] }),
    ordersExpired: new Counter({ name: 'seckill_orders_expired_total', help: 'Orders expired at their payment deadline', registers: [registry] }),
    recoveredTickets: new Counter({ name: 'seckill_tickets_recovered_total', help: 'Admitted tickets served without their job (recovered from Redis)', registers: [registry] })
  }
}
