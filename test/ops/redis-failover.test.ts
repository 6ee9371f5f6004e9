/**
 * A shard whose Redis Cluster node changed (a replica took over a failed master, and may lack its
 * last writes) is forgotten and rebuilt from MySQL before any queue position could be handed out
 * twice: tickets whose state is gone read `failed` (`lost_in_redis`) and their buyers can buy
 * again; tickets that won still read won; nothing is oversold. The ingress notices it on the next
 * buy (lua/admitBuyer answers -5); the worker notices a real failover by itself (workers/failover-watch.ts).
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { loadConfig } from '../../src/config'
import { auditSale } from '../../src/sale/invariant-audit'
import { eventDecided } from '../../src/stock/sale-state'
import { createRedisClient } from '../../src/redis/client'
import { testEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'
import { startLocalCluster } from '../helpers/redis-cluster'
import { parsePrometheus, sum } from '../helpers/prometheus'

t.test('ingress: a shard found on another node is reset; its lost ticket reads failed, its buyer buys again; positions are not reused', async (t) => {
  const cluster = await startLocalCluster(3)
  const env = await testEnv(t)
  env.defer(async () => await cluster.stop())
  const settings = { ...env.env, REDIS_URL: `redis://${cluster.nodes[0] ?? ''}`, REDIS_CLUSTER_NODES: cluster.nodes.join(',') }
  const redis = createRedisClient({ url: settings.REDIS_URL, clusterNodes: cluster.nodes })
  env.defer(() => { redis.disconnect() })
  // The ingress alone first: tickets stay queued (no drain yet).
  const { http, service: ingress } = await startTestService(env, loadConfig({ ...settings, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(http, env, { stock: 5 })
  const k = env.keys.shard({ eventId, shard: 0 })
  const buy = async (u: number): Promise<{ status: number, ticket: string }> => {
    const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) })
    return { status: r.status, ticket: r.body.data?.ticket_id as string }
  }
  const read = async (u: number, ticket: string): Promise<{ status: number, data: any }> => {
    const r = await http.request('GET', `/api/v1/tickets/${ticket}`, { token: env.token(u) })
    return { status: r.status, data: r.body.data }
  }
  const first = await buy(1)
  t.equal(first.status, 202)
  t.equal(first.ticket, `${eventId}-0-1`)
  t.ok(((await redis.get(k.node)) ?? '').length === 40, 'the node the shard was warmed on is recorded')

  // As after a failover: the shard is on another node than the one it was warmed on.
  await redis.set(k.node, '0'.repeat(40))
  const second = await buy(2)
  t.equal(second.status, 202, 'the next buyer is served')
  const qpos = Number(second.ticket.split('-')[2])
  t.ok(qpos > 1000, `past every position that may have been handed out (${qpos})`)
  t.equal(sum(parsePrometheus(await ingress.runtime.metrics.registry.metrics()), 'seckill_failover_resets_total', { by: 'ingress' }), 1, 'counted')
  t.same((await read(1, first.ticket)).data, { ticket_id: first.ticket, status: 'failed', reason: 'lost_in_redis' }, 'the lost ticket reads failed, lost_in_redis')
  const again = await buy(1)
  t.equal(again.status, 202, 'its buyer can buy again')
  t.not(again.ticket, first.ticket, 'with a new ticket')
  t.equal((await buy(1)).ticket, again.ticket, 'I7 holds for the new ticket')

  await startTestService(env, loadConfig({ ...settings, PROCESS_ROLE: 'worker' }))
  await until(async () => await eventDecided({ redis, keys: env.keys }, { id: eventId, shards: 1 }), 60_000, 'the drain')
  t.equal((await read(1, again.ticket)).data.status, 'won')
  t.equal((await read(2, second.ticket)).data.status, 'won')
  t.equal((await read(1, first.ticket)).data.status, 'failed', 'the lost ticket stays failed')
  const audit = await auditSale(env.db, redis, env.keys, eventId)
  for (const c of audit.checks) t.ok(c.ok, `${c.id}: ${c.detail}`)
  t.equal(audit.liveOrders, 2)
})

t.test('worker: a real failover (replica promoted) is noticed; the shard is rebuilt; won tickets still read won; the sale goes on', async (t) => {
  const cluster = await startLocalCluster(3, 1, 2000)
  const env = await testEnv(t)
  env.defer(async () => await cluster.stop())
  const settings = { ...env.env, REDIS_URL: `redis://${cluster.nodes[0] ?? ''}`, REDIS_CLUSTER_NODES: cluster.nodes.join(','), DISCOVERY_MS: '200' }
  const redis = createRedisClient({ url: settings.REDIS_URL, clusterNodes: cluster.nodes })
  env.defer(() => { redis.disconnect() })
  const { http, service } = await startTestService(env, loadConfig({ ...settings, PROCESS_ROLE: 'all' }))
  const eventId = await createSale(http, env, { stock: 10 })
  const k = env.keys.shard({ eventId, shard: 0 })
  const tickets = new Map<number, string>()
  for (let u = 1; u <= 4; u++) tickets.set(u, (await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) })).body.data.ticket_id as string)
  await until(async () => await eventDecided({ redis, keys: env.keys }, { id: eventId, shards: 1 }), 60_000, 'the first buyers decided')

  // A graceful manual failover: the replica takes over (its node id is not the master's).
  const master = cluster.masterOf(k.stock)
  const replica = cluster.replicaOf(master)
  const [host, port] = replica.split(':')
  const done = spawnSync('redis-cli', ['-h', host as string, '-p', port as string, 'cluster', 'failover'], { encoding: 'utf8' })
  t.equal(done.stdout.trim(), 'OK', 'the replica accepted the failover')
  t.equal(await cluster.waitForNewMaster(k.stock, master, 30_000), replica, 'the replica is the shard\'s master now')

  const resets = async (): Promise<number> => sum(parsePrometheus(await service.runtime.metrics.registry.metrics()), 'seckill_failover_resets_total', { by: 'worker' })
  await until(async () => await resets() === 1, 30_000, 'the worker to notice the failover')
  for (const [u, ticket] of tickets) {
    const r = await http.request('GET', `/api/v1/tickets/${ticket}`, { token: env.token(u) })
    t.equal(r.body.data?.status, 'won', `buyer ${u}'s won ticket still reads won (from MySQL): ${r.status} ${JSON.stringify(r.body)}`)
  }
  for (let u = 5; u <= 12; u++) {
    const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) })
    t.ok(r.status === 202 || r.status === 200, `buyer ${u} is answered (${r.status})`)
  }
  await until(async () => await eventDecided({ redis, keys: env.keys }, { id: eventId, shards: 1 }), 60_000, 'the later buyers decided')
  const audit = await auditSale(env.db, redis, env.keys, eventId)
  for (const c of audit.checks) t.ok(c.ok, `${c.id}: ${c.detail}`)
  t.equal(audit.liveOrders, 10, 'the stock sold exactly')
})

t.test('a Redis user that may not run CLUSTER MYID still sells (the node is not checked)', async (t) => {
  const cluster = await startLocalCluster(3)
  const env = await testEnv(t)
  env.defer(async () => await cluster.stop())
  for (const node of cluster.nodes) {
    const [host, port] = node.split(':')
    const r = spawnSync('redis-cli', ['-h', host as string, '-p', port as string, 'acl', 'setuser', 'shop', 'on', '>shop-password', '~*', '&*', '+@all', '-cluster|myid'], { encoding: 'utf8' })
    t.equal(r.stdout.trim(), 'OK', `user set on ${node}`)
  }
  const settings = { ...env.env, REDIS_URL: `redis://shop:shop-password@${cluster.nodes[0] ?? ''}`, REDIS_CLUSTER_NODES: cluster.nodes.join(',') }
  const redis = createRedisClient({ url: `redis://${cluster.nodes[0] ?? ''}`, clusterNodes: cluster.nodes })
  env.defer(() => { redis.disconnect() })
  const { http } = await startTestService(env, loadConfig({ ...settings, PROCESS_ROLE: 'all' }))
  const eventId = await createSale(http, env, { stock: 3 })
  for (let u = 1; u <= 5; u++) {
    const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) })
    t.ok(r.status === 202 || r.status === 200, `buyer ${u} answered (${r.status})`)
  }
  await until(async () => await eventDecided({ redis, keys: env.keys }, { id: eventId, shards: 1 }), 60_000, 'the drain')
  t.equal(await redis.get(env.keys.shard({ eventId, shard: 0 }).node), null, 'no node recorded: not checked')
  const audit = await auditSale(env.db, redis, env.keys, eventId)
  for (const c of audit.checks) t.ok(c.ok, `${c.id}: ${c.detail}`)
  t.equal(audit.liveOrders, 3)
})
