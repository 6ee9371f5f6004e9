// The drain's doorbell over a real Redis: a returns ring reaches it, and after its subscriber
// reconnects (rings sent meanwhile are lost) it tells the drain to look at the returns signal in
// Redis at once. A busy drain looks at that signal only once a second otherwise, so a return rung
// while the subscriber was away would wait for that look.
import t from 'tap'
import { Redis } from 'ioredis'
import { testEnv } from '../helpers/env'
import { until } from '../helpers/sale'
import { createLogger } from '../../src/logger'
import { DrainWaker } from '../../workers/drain-waker'
import { WAKE_JOBS, WAKE_RETURNS } from '../../src/stock/unit-returns'

t.test('a doorbell hears returns, and after a reconnect reports that rings may have been missed', async (t) => {
  const env = await testEnv(t)
  const subscriber = new Redis(env.config.redisUrl, { connectionName: `${env.id}-waker` })
  const waker = new DrainWaker(subscriber, createLogger('silent', 'test'))
  env.defer(async () => { await waker.close() })
  const channel = env.keys.shard({ eventId: 1, shard: 0 }).wake
  const bell = waker.watch(channel)
  await bell.ready

  t.equal(bell.takeMissed(), false, 'nothing missed on the first connection')
  const mark = bell.mark()
  await env.redis.publish(channel, WAKE_JOBS)
  await until(async () => bell.mark() !== mark, 5000, 'the jobs ring')
  t.equal(bell.takeReturns(), false, 'a jobs ring is not a return')
  await env.redis.publish(channel, WAKE_RETURNS)
  await until(async () => bell.takeReturns(), 5000, 'the returns ring')

  // The subscriber's connection is cut; ioredis reconnects and subscribes again.
  const clients = await env.redis.client('LIST') as string
  const id = new RegExp(`id=(\\d+) .*name=${env.id}-waker`).exec(clients)?.[1]
  t.ok(id, 'the subscriber connection is found')
  const before = bell.mark()
  await env.redis.client('KILL', 'ID', id as string)
  await until(async () => bell.mark() !== before, 10_000, 'the doorbell to ring after the reconnect')
  t.equal(bell.takeMissed(), true, 'the drain is told rings may have been lost')
  t.equal(bell.takeMissed(), false, 'once')

  // Subscribed again: rings arrive as before.
  await until(async () => { await env.redis.publish(channel, WAKE_RETURNS); return bell.takeReturns() }, 10_000, 'a returns ring after the reconnect')
})
