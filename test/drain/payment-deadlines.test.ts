// Payment deadlines of orders committed close together share one delayed job, due at the latest
// of their deadlines (never before any of them); orders gathered when the process stops still get
// their job.
import t from 'tap'
import { Queue } from 'bullmq'
import { loadConfig } from '../../src/config'
import { createLogger } from '../../src/logger'
import { PaymentDeadlines } from '../../src/domain/payment-deadline'
import { EXPIRY_QUEUE_NAME } from '../../src/redis/keys'
import { testEnv } from '../helpers/env'
import { startTestService } from '../helpers/sale'

t.test('orders scheduled within the gathering window share one job due at the latest deadline', async (t) => {
  const env = await testEnv(t)
  // Ingress only: no worker of its own runs the expiry queue meanwhile.
  const { service } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const connection = env.redis.duplicate({ maxRetriesPerRequest: null })
  const deadlines = new PaymentDeadlines(connection, env.keys, service.runtime.lifecycle, createLogger('silent', 'test'), 60_000)
  const queue = new Queue(EXPIRY_QUEUE_NAME, { connection, prefix: env.keys.expiryQueuePrefix })
  env.defer(async () => { await queue.close(); connection.disconnect() })

  const now = Date.now()
  await Promise.all([
    deadlines.schedule([101, 102], now + 60_000),
    deadlines.schedule([], now + 90_000),
    deadlines.schedule([103], now + 61_000),
    deadlines.schedule([99], now + 60_500)
  ])
  const jobs = await queue.getDelayed()
  t.equal(jobs.length, 1, 'one job for the three batches')
  t.same([...(jobs[0]?.data.orderIds ?? [])].sort((a: number, b: number) => a - b), [99, 101, 102, 103])
  t.equal(jobs[0]?.id, 'orders-99-4')
  t.ok((jobs[0]?.timestamp ?? 0) + (jobs[0]?.delay ?? 0) >= now + 61_000, 'due no sooner than the latest deadline')

  // Gathered, then the process stops before the window ends: the job is added by close().
  const pending = deadlines.schedule([200], now + 60_000)
  await deadlines.close()
  await pending
  t.ok((await queue.getDelayed()).some((j) => j.id === 'orders-200-1'), 'scheduled on close')
})
