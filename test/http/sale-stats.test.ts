/**
 * GET /admin/events/:id/stats as the operator page reads it: per shard the worker holding it, the
 * workers alive, and the sale's orders by status.
 */
import t from 'tap'
import { testEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'

t.test('sale stats name the shards\' workers, the live workers and the orders by status', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 3, shards: 2 })
  const admin = env.token(1, 'admin')
  const stats = async (): Promise<any> => (await http.request('GET', `/api/v1/admin/events/${eventId}/stats`, { token: admin })).body.data
  t.equal((await http.request('GET', `/api/v1/admin/events/${eventId}/stats`, { token: env.token(77) })).status, 403, 'buyers: 403')

  const tickets = await Promise.all([501, 502, 503, 504, 505].map(async (u) => ({ u, id: (await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) })).body.data.ticket_id as string })))
  const outcomes = await Promise.all(tickets.map(async ({ u, id }) => {
    for (;;) {
      const r = (await http.request('GET', `/api/v1/tickets/${id}?wait=5000`, { token: env.token(u) })).body.data
      if (r.status !== 'queued') return { u, ...r }
    }
  }))
  const won = outcomes.filter((o) => o.status === 'won')
  t.equal(won.length, 3, 'three won')
  t.equal((await http.request('POST', `/api/v1/orders/${String(won[0].order_id)}/pay`, { token: env.token(won[0].u) })).status, 200)
  t.equal((await http.request('POST', `/api/v1/orders/${String(won[1].order_id)}/cancel`, { token: env.token(won[1].u) })).status, 200)

  const s = await stats()
  t.same(s.orders, { pending_payment: 1, paid: 1, cancelled: 1, expired: 0, refunded: 0 }, 'orders by status')
  t.same(s.payments, { pending: 0, failed: 0, captured: 0, refunding: 0, refunded: 0 }, 'payments by status (the order was paid with the local button)')
  t.ok(s.workers.length >= 1, 'a worker is alive')
  t.ok(s.workers.every((w: any) => typeof w.id === 'string' && w.seen_ms_ago >= 0 && w.seen_ms_ago < 3 * env.config.leaseMs), 'each seen within three leases')
  const ids = new Set(s.workers.map((w: any) => w.id))
  await until(async () => (await stats()).shards.every((x: any) => x.owner !== null), 10_000, 'both shards owned')
  for (const x of (await stats()).shards) t.ok(ids.has(x.owner), `shard ${String(x.shard)} is held by a live worker`)
})
