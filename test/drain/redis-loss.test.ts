import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { loadConfig } from '../../src/config'
import { createRedis } from '../../src/redis/client'
import { eventDecided } from '../../src/stock/sale-state'
import { auditSale } from '../../src/sale/invariant-audit'
import { testEnv } from '../helpers/env'
import { createSale, pool, startTestService, until } from '../helpers/sale'
import { startPrivateRedis } from '../helpers/redis-server'

t.test('Redis restarted without persistence mid-sale: rebuilt from MySQL, no ticket id reused, no oversell, the sale goes on', async (t) => {
  const redisServer = await startPrivateRedis()
  const env = await testEnv(t)
  env.defer(async () => await redisServer.stop())
  const config = loadConfig({ ...env.env, REDIS_URL: redisServer.url, DRAIN_BATCH: '50' })
  const redis = createRedis(redisServer.url)
  env.defer(() => { redis.disconnect() })
  const { http } = await startTestService(env, { ...config, role: 'ingress' })
  let worker = (await startTestService(env, { ...config, role: 'worker' })).service
  const STOCK = 300
  const eventId = await createSale(http, env, { stock: STOCK })
  const buy = async (u: number): Promise<number> => (await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) }).catch(() => ({ status: 0 }))).status

  await pool(Array.from({ length: 120 }, (_, i) => 1000 + i), 20, buy)
  await until(async () => await eventDecided({ redis, keys: env.keys }, { id: eventId, shards: 1 }), 20_000, 'the first buyers to be served')
  const soldBefore = (await env.db('seckill_events').first('sold').where({ id: eventId }) as { sold: number }).sold
  t.equal(soldBefore, 120)

  // Thirty more buyers are admitted while no worker drains; Redis then loses their tickets.
  await worker.stop()
  const lost = await pool(Array.from({ length: 30 }, (_, i) => 1500 + i), 10, async (u) => {
    const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) })
    t.equal(r.status, 202, 'queued while no worker drains')
    return { u, id: r.body.data.ticket_id as string }
  })

  await redisServer.restart() // every key is gone
  worker = (await startTestService(env, { ...config, role: 'worker' })).service
  await sleep(500)
  // New buyers keep coming; the service rebuilds the sale from MySQL and serves them.
  const statuses = await pool(Array.from({ length: 400 }, (_, i) => 2000 + i), 20, async (u) => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const s = await buy(u)
      if (s === 200 || s === 202) return s
      await sleep(100)
    }
    return 0
  })
  t.equal(statuses.filter((s) => s === 0).length, 0, 'every new buyer was answered once Redis was back')
  await until(async () => await eventDecided({ redis, keys: env.keys }, { id: eventId, shards: 1 }), 30_000, 'the sale to finish after the restart')

  for (const { u, id } of lost) {
    const r = await http.request('GET', `/api/v1/tickets/${id}`, { token: env.token(u) })
    t.same([r.status, r.body.data?.status, r.body.data?.reason], [200, 'failed', 'lost_in_redis'], `ticket ${id}, lost with Redis, reads failed with its reason`)
  }
  const event = await env.db('seckill_events').first('stock', 'sold').where({ id: eventId }) as { stock: number, sold: number }
  const orders = await env.db('orders').where({ event_id: eventId }).select('ticket_id', 'user_id')
  t.equal(event.sold, STOCK, 'the whole stock sold, no more')
  t.equal(orders.length, STOCK, 'one order per unit')
  t.equal(new Set(orders.map((o: { ticket_id: string }) => o.ticket_id)).size, STOCK, 'no ticket id used twice')
  const lostIds = new Set(lost.map((l) => l.id))
  t.notOk(orders.some((o: { ticket_id: string }) => lostIds.has(o.ticket_id)), 'no lost ticket id was handed out again')
  t.equal(new Set(orders.map((o: { user_id: number }) => o.user_id)).size, STOCK, 'no buyer with two orders')
  t.equal(await redis.get(env.keys.shard({ eventId, shard: 0 }).stock), '0', 'Redis stock agrees with MySQL (stock − sold)')
  t.equal(await redis.hlen(env.keys.shard({ eventId, shard: 0 }).reserved), STOCK, 'units held in Redis = live orders (rebuilt)')
  // The audit pairs orders with won tickets; orders whose tickets Redis lost are MySQL's alone.
  const audit = await auditSale(env.db, redis, env.keys, eventId)
  for (const c of audit.checks) t.ok(c.ok, `${c.id}: ${c.detail}`)
})
