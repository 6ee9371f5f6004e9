/**
 * lua/takeJobs works on BullMQ's own queue layout: jobs added by BullMQ's own `add` (as
 * lua/admitBuyer writes them, test/lua/admit-job-layout.test.ts) are taken, adopted and settled by
 * the script. These tests pin that layout, so a BullMQ upgrade that changes it fails here first.
 */
import t from 'tap'
import { Queue } from 'bullmq'
import { takeJobs } from '../../src/redis/commands'
import type { TakeReply } from '../../src/redis/commands'
import { QUEUE_NAME } from '../../src/redis/keys'
import type { ShardRef } from '../../src/redis/keys'
import { queuedTicketId } from '../../src/shared/ticket-ids'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'

const LEASE = 'lease-token-under-test'
const ref = { eventId: 31, shard: 0 }

function ids (reply: TakeReply): string[] {
  return reply.leaseLost ? ['lease lost'] : reply.jobs.map((j) => j.id)
}

/** The shard's buy queue as BullMQ itself opens it. */
function bullQueue (env: TestEnv, at: ShardRef): Queue {
  const queue = new Queue(QUEUE_NAME, { connection: env.redis, prefix: env.keys.queuePrefix(at) })
  env.defer(async () => { await queue.close() })
  return queue
}

async function addJob (queue: Queue, q: number): Promise<void> {
  await queue.add('buy', { u: String(100 + q), q }, { jobId: queuedTicketId(ref.eventId, ref.shard, q) })
}

async function withJobs (t: Parameters<typeof testEnv>[0], positions: number[]): Promise<TestEnv> {
  const env = await testEnv(t)
  const queue = bullQueue(env, ref)
  for (const q of positions) await addJob(queue, q)
  await env.redis.set(env.keys.shard(ref).lease, LEASE)
  return env
}

t.test('takeJobs: takes the oldest jobs in the order BullMQ received them, with their add times', async (t) => {
  const env = await withJobs(t, [1, 3, 2, 4, 5])
  const k = env.keys.shard(ref)
  const q = env.keys.buyQueue(ref)
  const before = Date.now()
  const first = await takeJobs(env.redis, k, q, LEASE, 3, true, [])
  t.same(ids(first), ['31-0-1', '31-0-3', '31-0-2'], 'oldest first, as added')
  t.ok(!first.leaseLost && first.jobs.every((j) => j.addedAt > before - 60_000 && j.addedAt <= Date.now()), 'BullMQ\'s add time comes back')
  t.equal(await env.redis.llen(q.wait), 2, 'two left waiting')
  t.equal(await env.redis.llen(q.active), 3, 'three held by the owner')
})

t.test('takeJobs: a caller without the lease takes and deletes nothing', async (t) => {
  const env = await withJobs(t, [1, 2])
  const k = env.keys.shard(ref)
  const q = env.keys.buyQueue(ref)
  await takeJobs(env.redis, k, q, LEASE, 1, true, [])
  const stale = await takeJobs(env.redis, k, q, 'someone-else', 10, true, ['31-0-1'])
  t.equal(stale.leaseLost, true, 'fenced')
  t.equal(await env.redis.llen(q.wait), 1)
  t.equal(await env.redis.llen(q.active), 1)
  t.equal(await env.redis.exists(q.jobPrefix + '31-0-1'), 1, 'the held job was not deleted')
})

t.test('takeJobs: settling deletes the served jobs; a new owner adopts the ones still held', async (t) => {
  const env = await withJobs(t, [1, 2, 3, 4])
  const k = env.keys.shard(ref)
  const q = env.keys.buyQueue(ref)
  await takeJobs(env.redis, k, q, LEASE, 3, true, [])
  const more = await takeJobs(env.redis, k, q, LEASE, 10, false, ['31-0-1', '31-0-2'])
  t.same(ids(more), ['31-0-4'], 'the rest of the queue')
  t.equal(await env.redis.exists(q.jobPrefix + '31-0-1', q.jobPrefix + '31-0-2'), 0, 'served jobs deleted')
  t.same(await env.redis.lrange(q.active, 0, -1), ['31-0-4', '31-0-3'], 'unserved jobs stay held')

  // The owner dies; the next one adopts what it held, oldest first, then takes new jobs.
  const queue = bullQueue(env, ref)
  await addJob(queue, 5)
  await env.redis.set(k.lease, 'next-owner')
  const adopted = await takeJobs(env.redis, k, q, 'next-owner', 10, true, [])
  t.same(ids(adopted), ['31-0-3', '31-0-4', '31-0-5'], 'adopted first, then new')
  t.same((await queue.getJobCounts('wait', 'active')), { wait: 0, active: 3 }, 'BullMQ counts the held jobs as active')

  await takeJobs(env.redis, k, q, 'next-owner', 0, false, ['31-0-3', '31-0-4', '31-0-5'])
  t.equal(await env.redis.llen(q.active), 0, 'nothing held once all are settled')
  t.equal(await env.redis.exists(q.jobPrefix + '31-0-5'), 0)
})

t.test('takeJobs: served jobs out of the held order are still each removed, and only they', async (t) => {
  const env = await withJobs(t, [1, 2, 3, 4, 5])
  const k = env.keys.shard(ref)
  const q = env.keys.buyQueue(ref)
  await takeJobs(env.redis, k, q, LEASE, 5, true, [])
  // Not the right end of the held list (1 and 2 are): each is looked up by value.
  await takeJobs(env.redis, k, q, LEASE, 0, false, ['31-0-2', '31-0-4'])
  t.same(await env.redis.lrange(q.active, 0, -1), ['31-0-5', '31-0-3', '31-0-1'], 'the others stay held, in order')
  t.equal(await env.redis.exists(q.jobPrefix + '31-0-2', q.jobPrefix + '31-0-4'), 0, 'served jobs deleted')
  t.equal(await env.redis.exists(q.jobPrefix + '31-0-1', q.jobPrefix + '31-0-3', q.jobPrefix + '31-0-5'), 3, 'held jobs kept')
  // The right end, oldest first, but one more than is held: also by value.
  await takeJobs(env.redis, k, q, LEASE, 0, false, ['31-0-1', '31-0-3', '31-0-5', '31-0-9'])
  t.equal(await env.redis.llen(q.active), 0, 'all settled')
})

t.test('takeJobs: a large batch is taken and settled whole (bulk commands in chunks)', async (t) => {
  const env = await testEnv(t)
  const queue = bullQueue(env, ref)
  const positions = Array.from({ length: 1203 }, (_, i) => i + 1)
  await queue.addBulk(positions.map((p) => ({ name: 'buy', data: { u: String(100 + p), q: p }, opts: { jobId: queuedTicketId(ref.eventId, ref.shard, p) } })))
  const k = env.keys.shard(ref)
  const q = env.keys.buyQueue(ref)
  await env.redis.set(k.lease, LEASE)
  const taken = await takeJobs(env.redis, k, q, LEASE, 1100, true, [])
  t.same(ids(taken), positions.slice(0, 1100).map((p) => queuedTicketId(ref.eventId, ref.shard, p)), 'oldest first')
  t.equal(await env.redis.llen(q.active), 1100)
  const rest = await takeJobs(env.redis, k, q, LEASE, 1100, false, ids(taken))
  t.same(ids(rest), positions.slice(1100).map((p) => queuedTicketId(ref.eventId, ref.shard, p)), 'the rest')
  t.same(await env.redis.lrange(q.active, 0, -1), ids(rest).reverse(), 'only the unserved are held, oldest rightmost')
  t.equal(await env.redis.exists(...ids(taken).slice(0, 600).map((id) => q.jobPrefix + id)), 0, 'served jobs deleted (past one chunk)')
})

t.test('takeJobs: BullMQ\'s add sets the marker the drain blocks on', async (t) => {
  const env = await withJobs(t, [])
  const q = env.keys.buyQueue(ref)
  const blocking = env.redis.duplicate()
  t.teardown(() => blocking.disconnect())
  const woke = blocking.bzpopmin(q.marker, 5)
  const queue = bullQueue(env, ref)
  const started = Date.now()
  await addJob(queue, 1)
  t.not(await woke, null, 'the add wakes a drain waiting for jobs')
  t.ok(Date.now() - started < 4000, 'at once, not at the timeout')
})
