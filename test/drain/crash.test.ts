import t from 'tap'
import { Queue } from 'bullmq'
import { QUEUE_NAME } from '../../src/redis/keys'
import { loadConfig } from '../../src/config'
import { auditSale } from '../../src/sale/invariant-audit'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, pool, saleIdle, startTestService, until } from '../helpers/sale'
import type { Http } from '../helpers/sale'
import { spawnService, within } from '../helpers/processes'
import type { Test } from '../helpers/tap-types'

const STOCK = 200
const BUYERS = 1000

async function crowd (http: Http, env: TestEnv, eventId: number, buyers = BUYERS, offset = 0): Promise<void> {
  await pool(Array.from({ length: buyers }, (_, i) => String(50_000 + offset + i)), 100, async (u) => {
    const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) })
    if (r.status !== 200 && r.status !== 202) throw new Error(`buy answered ${r.status}`)
  })
}

async function expectInvariants (t: Test, env: TestEnv, eventId: number): Promise<void> {
  const audit = await auditSale(env.db, env.redis, env.keys, eventId)
  for (const c of audit.checks) t.ok(c.ok, `${c.id}: ${c.detail}`)
  t.equal(audit.liveOrders, STOCK, 'the whole stock sold, once')
}

async function ordersOf (env: TestEnv, eventId: number): Promise<number> {
  const row = await env.db('orders').where({ event_id: eventId }).count({ n: '*' }).first() as { n: number | string }
  return Number(row.n)
}

for (const point of ['after-reserve', 'after-commit'] as const) {
  t.test(`a worker process killed mid-batch (${point}) and restarted: the batch runs again, nothing twice`, async (t) => {
    const env = await testEnv(t, { LEASE_MS: '1000', DRAIN_BATCH: '50', SECKILL_FAULT: '' })
    const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
    const eventId = await createSale(http, env, { stock: STOCK, shards: 2 })
    await crowd(http, env, eventId)

    const doomed = spawnService(env, { PROCESS_ROLE: 'worker', SECKILL_FAULT: `drain:process-kill-${point}` })
    t.equal(await within(60_000, doomed.exited, 'the doomed worker'), 'SIGKILL', 'the worker died in the middle of a batch')
    const partial = await ordersOf(env, eventId)
    if (point === 'after-commit') t.ok(partial > 0, `orders of the killed batch were committed (${partial})`)
    else t.equal(partial, 0, 'the killed batch had reserved but written nothing')
    t.notOk(await saleIdle(env, eventId, 2), 'tickets were left undecided')

    const heir = spawnService(env, { PROCESS_ROLE: 'worker' })
    await until(async () => await saleIdle(env, eventId, 2), 60_000, 'the restarted worker to finish the sale')
    await expectInvariants(t, env, eventId)
    t.equal(await heir.stop(), '0', 'the restarted worker shuts down cleanly')
  })
}

t.test('a drain thread that dies mid-batch: the batch is retried on another thread', async (t) => {
  const env = await testEnv(t, { SECKILL_FAULT: 'drain:thread-exit-after-reserve', DRAIN_BATCH: '50' })
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: STOCK })
  await crowd(http, env, eventId)
  await until(async () => await saleIdle(env, eventId, 1), 60_000, 'the sale to finish')
  t.equal(await env.redis.get(env.keys.faultFired), 'drain:thread-exit-after-reserve', 'the thread did die')
  await expectInvariants(t, env, eventId)
})

for (const fault of ['drain:thread-throw-after-reserve', 'drain:thread-hang-after-reserve'] as const) {
  t.test(`a batch that ${fault.includes('hang') ? 'hangs' : 'throws'} mid-way does not hold its shard: retried, nothing twice`, async (t) => {
    const env = await testEnv(t, { SECKILL_FAULT: fault, DRAIN_BATCH: '50', DRAIN_BATCH_TIMEOUT_MS: '3000' })
    const { http } = await startTestService(env)
    const eventId = await createSale(http, env, { stock: STOCK })
    await crowd(http, env, eventId)
    await until(async () => await saleIdle(env, eventId, 1), 60_000, 'the sale to finish')
    t.equal(await env.redis.get(env.keys.faultFired), fault, 'the fault did fire')
    await expectInvariants(t, env, eventId)
  })
}

t.test('admitted tickets whose waiting jobs an operator removed are found and served in order', async (t) => {
  const env = await testEnv(t, { DRAIN_BATCH: '50' })
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(http, env, { stock: STOCK, shards: 2 })
  await crowd(http, env, eventId)
  // Every admitted ticket's job is queued (one script), then every other one is removed with
  // BullMQ's own tool, before any worker runs.
  let removed = 0
  for (const shard of [0, 1]) {
    const ref = { eventId, shard }
    t.equal(await env.redis.llen(env.keys.buyQueue(ref).wait), Number(await env.redis.get(env.keys.shard(ref).qseq)), `shard ${shard}: one waiting job per admitted ticket`)
    const queue = new Queue(QUEUE_NAME, { connection: env.redis, prefix: env.keys.queuePrefix(ref) })
    const waiting = await queue.getWaiting()
    for (const job of waiting.filter((_, i) => i % 2 === 0)) removed += await queue.remove(String(job.id))
    await queue.close()
  }
  t.ok(removed > 0, `${removed} waiting jobs removed`)
  await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'worker' }))
  await until(async () => await saleIdle(env, eventId, 2), 60_000, 'the sale to finish')
  await expectInvariants(t, env, eventId)
})
