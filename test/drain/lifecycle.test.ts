import t from 'tap'
import { loadConfig } from '../../src/config'
import { auditSale } from '../../src/sale/invariant-audit'
import { testEnv } from '../helpers/env'
import { createSale, pool, saleIdle, startTestService, until } from '../helpers/sale'

t.test('a sale that ended with tickets still queued is drained anyway, then retired', async (t) => {
  const env = await testEnv(t, { RETENTION_SECONDS: '600' })
  // Buyers come while no worker runs.
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(http, env, { stock: 10, shards: 2 })
  await pool(Array.from({ length: 30 }, (_, i) => i + 1), 10, async (u) => await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) }))
  t.notOk(await saleIdle(env, eventId, 2), 'tickets are queued')
  // The sale ended long ago (past every grace) while they waited.
  await env.db('seckill_events').where({ id: eventId }).update({ start_at: new Date(Date.now() - 3_600_000), end_at: new Date(Date.now() - 1_800_000) })

  await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'worker' }))
  await until(async () => await saleIdle(env, eventId, 2), 30_000, 'the late tickets to be decided')
  const audit = await auditSale(env.db, env.redis, env.keys, eventId)
  for (const c of audit.checks) t.ok(c.ok, `${c.id}: ${c.detail}`)
  t.equal(audit.liveOrders, 10)

  const k = env.keys.shard({ eventId, shard: 0 })
  const queueMeta = env.keys.buyQueue({ eventId, shard: 0 }).meta
  await until(async () => (await env.redis.ttl(k.tickets)) > 0 && (await env.redis.exists(queueMeta)) === 0, 10_000, 'the event to be retired')
  const ttl = await env.redis.ttl(k.stock)
  t.ok(ttl > 500 && ttl <= 600, `shard keys expire after the retention time (ttl ${ttl})`)
  t.equal(await env.redis.hlen(k.tickets) > 0, true, 'tickets stay readable until then')
})
