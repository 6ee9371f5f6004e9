/**
 * The rate-limit store: limits exact across processes (two store instances stand for two ingress
 * processes on one Redis), bursts served by one reservation, a new window after the old one ends.
 */
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyRateLimitStore } from '@fastify/rate-limit'
import { blockSize, quotaStore } from '../../src/http/quota-store'
import { createRedis } from '../../src/redis/client'
import { testEnv } from '../helpers/env'

async function incr (store: FastifyRateLimitStore, key: string, windowMs: number, max: number): Promise<boolean> {
  return await new Promise((resolve, reject) => {
    store.incr(key, (err, res) => { if (err !== null) reject(err); else resolve((res?.current ?? Infinity) <= max) }, windowMs, max)
  })
}

t.test('block sizes: a tenth of the limit, 1 to 50', async (t) => {
  t.same([1, 9, 10, 120, 1000, 1_000_000].map(blockSize), [1, 1, 1, 12, 50, 50])
})

t.test('two processes, 600 concurrent requests, limit 100: exactly 100 admitted, and the second window admits again', async (t) => {
  const env = await testEnv(t)
  const second = createRedis(env.config.redisUrl)
  t.teardown(() => second.disconnect())
  const Store = quotaStore(env.redis, `${env.keys.rateLimit}t:`)
  const OtherProcessStore = quotaStore(second, `${env.keys.rateLimit}t:`)
  const a = new Store({})
  const b = new OtherProcessStore({})
  const admitted = await Promise.all(Array.from({ length: 600 }, async (_, i) => await incr(i % 2 === 0 ? a : b, 'buyer-1', 1500, 100)))
  t.equal(admitted.filter(Boolean).length, 100, 'never more than the limit, and no block wasted by the burst')
  t.equal(Number(await env.redis.get(`${env.keys.rateLimit}t:buyer-1`)), 100, 'Redis counted the requests reserved')
  t.equal(await incr(a, 'buyer-2', 1500, 100), true, 'another key has its own quota')

  await sleep(1600)
  const next = await Promise.all(Array.from({ length: 30 }, async () => await incr(a, 'buyer-1', 1500, 100)))
  t.equal(next.filter(Boolean).length, 30, 'a new window admits again')
})

t.test('one request at a time: Redis is asked once per block, not per request', async (t) => {
  const env = await testEnv(t)
  const Store = quotaStore(env.redis, `${env.keys.rateLimit}t:`)
  const store = new Store({})
  const counter = async (): Promise<number> => Number(await env.redis.get(`${env.keys.rateLimit}t:poller`))
  t.equal(await incr(store, 'poller', 60_000, 1000), true)
  t.equal(await counter(), 50, 'the first request reserved a block of 50')
  for (let i = 0; i < 49; i++) await incr(store, 'poller', 60_000, 1000)
  t.equal(await counter(), 50, 'the next 49 came from memory')
  t.equal(await incr(store, 'poller', 60_000, 1000), true)
  t.equal(await counter(), 100, 'the 51st reserved the next block')
})
