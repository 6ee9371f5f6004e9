/**
 * lua/admitBuyer adds an admitted ticket's job to the shard's BullMQ queue itself, in the same
 * script that admits it, writing what BullMQ's own `add` writes. These tests pin that: the same
 * buys go through admitBuyer on one shard and through BullMQ's `Queue.add` on another, and every
 * key of the two queues is compared (names, types, fields, values; only the ids' shard part, the
 * times and the stream entry ids differ). A BullMQ upgrade that changes its layout fails here.
 */
import t from 'tap'
import { Queue } from 'bullmq'
import { Admit, BUY_EVENTS_MAX_LEN, admitBuyer } from '../../src/redis/commands'
import type { AdmitReply } from '../../src/redis/commands'
import { QUEUE_NAME } from '../../src/redis/keys'
import type { ShardRef } from '../../src/redis/keys'
import { queuedTicketId, ticketIdPrefix } from '../../src/shared/ticket-ids'
import { warmEvent } from '../../src/stock/sale-state'
import type { SaleEvent } from '../../src/shared/sale-event'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import type { Test } from '../helpers/tap-types'

const BUYERS = ['7', '8', '9']
const NO_LIMIT = { max: 1_000_000, timeWindow: 60_000 }

async function admit (env: TestEnv, ref: ShardRef, user: string): Promise<AdmitReply> {
  return await admitBuyer(env.redis, { k: env.keys.shard(ref), q: env.keys.buyQueue(ref), ticketPrefix: ticketIdPrefix(ref.eventId, ref.shard), overbook: 1, rate: NO_LIMIT }, user)
}

function saleEvent (id: number, stock: number): SaleEvent {
  return { id, productId: 1, title: 't', priceCents: 1, stock, sold: 0, shards: 1, startAt: new Date(0), endAt: new Date(Date.now() + 3_600_000), requireToken: false, warmedAt: null }
}

function openQueue (env: TestEnv, ref: ShardRef): Queue {
  const queue = new Queue(QUEUE_NAME, { connection: env.redis, prefix: env.keys.queuePrefix(ref), streams: { events: { maxLen: BUY_EVENTS_MAX_LEN } } })
  env.defer(async () => { await queue.close() })
  return queue
}

/** Every key of a shard's queue, read whole, with the shard's own parts of names and ids made neutral. */
async function queueContent (env: TestEnv, ref: ShardRef, since: number): Promise<Record<string, unknown>> {
  const prefix = env.keys.queuePrefix(ref)
  const ids = ticketIdPrefix(ref.eventId, ref.shard)
  const neutral = (s: string): string => s.split(ids).join('<ticket>-')
  const out: Record<string, unknown> = {}
  for (const key of (await env.redis.keys(`${prefix}*`)).sort()) {
    const name = neutral(key.slice(prefix.length))
    const type = await env.redis.type(key)
    if (type === 'hash') {
      const hash = await env.redis.hgetall(key)
      if (hash.timestamp !== undefined) {
        const at = Number(hash.timestamp)
        hash.timestamp = at >= since && at <= Date.now() ? '<now>' : `out of range: ${hash.timestamp}`
      }
      out[name] = { type, value: Object.fromEntries(Object.entries(hash).map(([f, v]) => [f, neutral(v)])) }
    } else if (type === 'list') {
      out[name] = { type, value: (await env.redis.lrange(key, 0, -1)).map(neutral) }
    } else if (type === 'zset') {
      out[name] = { type, value: await env.redis.zrange(key, '0', '-1', 'WITHSCORES') }
    } else if (type === 'stream') {
      out[name] = { type, value: (await env.redis.xrange(key, '-', '+')).map(([, fields]) => fields.map(neutral)) }
    } else {
      out[name] = { type, value: await env.redis.get(key) }
    }
  }
  return out
}

/** Buys through admitBuyer on `ours`, through BullMQ's add on `theirs`, and compares the queues. */
async function compare (t: Test, env: TestEnv, ours: ShardRef, theirs: ShardRef, before?: (queue: Queue) => Promise<void>): Promise<void> {
  await warmEvent(env, saleEvent(ours.eventId, 100))
  const bull = openQueue(env, theirs)
  if (before !== undefined) {
    await before(openQueue(env, ours))
    await before(bull)
  }
  const since = Date.now()
  for (const [i, user] of BUYERS.entries()) {
    const reply = await admit(env, ours, user)
    t.same([reply.code, reply.qpos], [Admit.QUEUED, i + 1], `buyer ${user} admitted at ${i + 1}`)
    await bull.add('buy', { u: user, q: i + 1 }, { jobId: queuedTicketId(theirs.eventId, theirs.shard, i + 1) })
  }
  const mine = await queueContent(env, ours, since)
  t.ok(Object.keys(mine).length >= 6, `the admitted jobs' queue holds ${Object.keys(mine).join(', ')}`)
  t.same(mine, await queueContent(env, theirs, since), 'key for key what BullMQ\'s add writes')
}

t.test('admitBuyer writes a job exactly as BullMQ\'s add does', async (t) => {
  const env = await testEnv(t)
  await compare(t, env, { eventId: 41, shard: 0 }, { eventId: 42, shard: 0 })

  const queue = openQueue(env, { eventId: 41, shard: 0 })
  const job = await queue.getJob(queuedTicketId(41, 0, 2))
  t.same([job?.name, job?.data, job?.opts.jobId], ['buy', { u: '8', q: 2 }, '41-0-2'], 'BullMQ reads the job back as its own')
  t.same(await queue.getJobCounts('wait', 'active'), { wait: 3, active: 0 }, 'BullMQ counts the jobs waiting')
  t.equal(await queue.getVersion(), (await openQueue(env, { eventId: 42, shard: 0 }).getVersion()), 'the queue\'s version is BullMQ\'s')
})

t.test('admitBuyer leaves the marker alone on a paused queue, as BullMQ\'s add does', async (t) => {
  const env = await testEnv(t)
  await compare(t, env, { eventId: 43, shard: 0 }, { eventId: 44, shard: 0 }, async (queue) => { await queue.pause() })
  t.equal(await env.redis.exists(env.keys.buyQueue({ eventId: 43, shard: 0 }).marker), 0, 'no marker')
})

t.test('a buyer turned away or buying again adds no job', async (t) => {
  const env = await testEnv(t)
  const ref = { eventId: 45, shard: 0 }
  await warmEvent(env, saleEvent(45, 1))
  const code = async (user: string): Promise<number> => (await admit(env, ref, user)).code
  t.same([await code('7'), await code('7'), await code('8'), await code('8')], [Admit.QUEUED, Admit.EXISTING, Admit.SOLD_OUT_NOW, Admit.SOLD_OUT_BEFORE])
  t.same(await env.redis.lrange(env.keys.buyQueue(ref).wait, 0, -1), ['45-0-1'], 'one job, the admitted one\'s')
  t.equal(await env.redis.get(env.keys.buyQueue(ref).id), '1', 'BullMQ\'s job counter counts one add')
})
