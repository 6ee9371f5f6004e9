/**
 * The worker's drain breaker (workers/drain-breaker.ts) against a MySQL that goes away: batches
 * fail, the breaker opens and the drain stops launching batches (failures stop growing while its
 * probes fail), then MySQL comes back, a probe closes the breaker, and every ticket ends right.
 * The worker reaches MySQL through a TCP proxy the test cuts; the ingress reaches it directly.
 */
import t from 'tap'
import { loadConfig } from '../../src/config'
import { auditSale } from '../../src/sale/invariant-audit'
import { testEnv } from '../helpers/env'
import { createSale, saleIdle, startTestService, until } from '../helpers/sale'
import { tcpProxy } from '../helpers/tcp-proxy'
import { sum, parsePrometheus } from '../helpers/prometheus'

t.test('MySQL unreachable from the worker: the breaker opens, holds batches back, probes, and closes when MySQL answers', async (t) => {
  const env = await testEnv(t)
  const db = new URL(env.config.databaseUrl)
  const proxy = await tcpProxy(t, db.hostname, Number(db.port === '' ? 3306 : db.port))
  const viaProxy = new URL(env.config.databaseUrl)
  viaProxy.host = `127.0.0.1:${proxy.port}`

  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(http, env, { stock: 5 })
  const { service: worker } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'worker', DATABASE_URL: viaProxy.toString() }))
  const breaker = worker.dispatcher?.breaker
  if (breaker === undefined) throw new Error('the worker has no dispatcher')
  const metric = async (name: string, where: Record<string, string> = {}): Promise<number> =>
    sum(parsePrometheus(await worker.runtime.metrics.registry.metrics()), name, where)
  const ticketOf = async (user: number): Promise<string> => {
    const res = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(user) })
    t.equal(res.status, 202, `buyer ${user} queued`)
    return res.body.data.ticket_id as string
  }
  const status = async (user: number, ticket: string): Promise<string> =>
    (await http.request('GET', `/api/v1/tickets/${ticket}`, { token: env.token(user) })).body.data.status as string

  // MySQL answers: a buy is decided.
  const first = await ticketOf(1)
  await until(async () => await status(1, first) === 'won', 30_000, 'the first ticket won')
  t.equal(breaker.current, 'closed')

  proxy.cut()
  const tickets = new Map<number, string>()
  for (const u of [2, 3, 4]) tickets.set(u, await ticketOf(u))
  await until(async () => breaker.current !== 'closed', 60_000, 'the breaker to open')
  t.equal(await metric('seckill_drain_breaker_transitions_total', { to: 'open' }), 1, 'opened once')
  const failedAtOpen = await metric('seckill_drain_batch_failures_total')
  t.ok(failedAtOpen >= 3, `it opened after failed batches (${failedAtOpen})`)

  // Three probes fail (1 s, 2 s, then 4 s apart): meanwhile no batch is launched. The batch whose
  // failure opened it was the shard's only one in flight (a failure sends every flight back).
  await until(async () => await metric('seckill_drain_breaker_transitions_total', { to: 'half_open' }) >= 3 && breaker.current === 'open', 30_000, 'three failed probes')
  t.equal(await metric('seckill_drain_batch_failures_total'), failedAtOpen, 'no batch ran (and failed) while it was open')
  t.equal(await metric('seckill_drain_breaker_state'), 2, 'the gauge says open')
  for (const [u, ticket] of tickets) t.equal(await status(u, ticket), 'queued', `buyer ${u} waits`)

  proxy.restore()
  await until(async () => breaker.current === 'closed', 60_000, 'a probe to close the breaker')
  t.equal(await metric('seckill_drain_breaker_state'), 0, 'the gauge says closed')
  await until(async () => await saleIdle(env, eventId, 1), 60_000, 'the waiting tickets decided')
  for (const [u, ticket] of tickets) t.equal(await status(u, ticket), 'won', `buyer ${u} won`)
  const audit = await auditSale(env.db, env.redis, env.keys, eventId)
  for (const c of audit.checks) t.ok(c.ok, `${c.id}: ${c.detail}`)
  t.equal(audit.liveOrders, 4)
})
