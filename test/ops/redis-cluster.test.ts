import t from 'tap'
import { loadConfig } from '../../src/config'
import { auditSale } from '../../src/sale/invariant-audit'
import { eventDecided } from '../../src/stock/sale-state'
import { createRedisClient } from '../../src/redis/client'
import { testEnv } from '../helpers/env'
import { createSale, pool, startTestService, until } from '../helpers/sale'
import { keysOnNode, startLocalCluster } from '../helpers/redis-cluster'

t.test('the whole buy path runs unchanged on a 3-master Redis Cluster', async (t) => {
  const cluster = await startLocalCluster(3)
  const env = await testEnv(t)
  env.defer(async () => await cluster.stop())
  const config = loadConfig({ ...env.env, REDIS_URL: `redis://${cluster.nodes[0] ?? ''}`, REDIS_CLUSTER_NODES: cluster.nodes.join(',') })
  const redis = createRedisClient({ url: config.redisUrl, clusterNodes: config.redisClusterNodes })
  env.defer(() => { redis.disconnect() })
  const { http } = await startTestService(env, config)

  const STOCK = 200
  const SHARDS = 6
  const eventId = await createSale(http, env, { stock: STOCK, shards: SHARDS })
  const users = Array.from({ length: 1500 }, (_, i) => String(70_000 + i))
  const first = await pool(users, 100, async (u) => await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) }))
  t.ok(first.every((r) => r.status === 200 || r.status === 202), `every buyer answered 200 or 202 (answers seen: ${[...new Set(first.map((r) => r.status))].join(', ')})`)
  await until(async () => await eventDecided({ redis, keys: env.keys }, { id: eventId, shards: SHARDS }), 60_000, 'the drain')

  const audit = await auditSale(env.db, redis, env.keys, eventId)
  for (const c of audit.checks) t.ok(c.ok, `${c.id}: ${c.detail}`)
  t.equal(audit.liveOrders, STOCK)
  const again = await pool(users.slice(0, 300), 100, async (u) => await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) }))
  t.ok(again.every((r, i) => r.body.data.ticket_id === first[i]?.body.data.ticket_id), 'I7: resubmits return the same tickets')
  const withKeys = cluster.nodes.filter((n) => keysOnNode(n) > 0).length
  t.ok(withKeys >= 2, `the sale's keys are spread over ${withKeys} masters`)
})
