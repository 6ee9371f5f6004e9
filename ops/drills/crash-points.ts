/**
 * Drill 5: the buy path losing a piece between its steps.
 *   - Admitted tickets whose jobs vanish: admission writes a ticket and its job in one script, so
 *     no crash separates them; but an operator's BullMQ tool can remove waiting jobs. Here one does,
 *     throughout the crowd (BullMQ's `remove` on the waiting jobs); the drain finds the gaps and
 *     serves those tickets from Redis, in order.
 *   - Between reservation and the order transaction, through a test-only fault point
 *     (`SECKILL_FAULT`, never set in production): a worker process kills itself (SIGKILL) after
 *     reserving a batch; the next owner runs the batch again, and the reservation, idempotent per
 *     ticket, is not taken twice.
 */
import { Queue } from 'bullmq'
import { QUEUE_NAME } from '../../src/redis/keys'
import type { Drill, DrillSale } from './harness'
import { sleep, withSale } from './harness'

/** Removes waiting buy jobs of every shard with BullMQ's own `remove` until `done`; how many it removed. */
async function removeWaitingJobs (sale: DrillSale, done: () => boolean): Promise<number> {
  const queues = Array.from({ length: sale.shards }, (_, shard) =>
    new Queue(QUEUE_NAME, { connection: sale.env.redis, prefix: sale.env.keys.queuePrefix({ eventId: sale.eventId, shard }) }))
  let removed = 0
  try {
    while (!done()) {
      for (const queue of queues) {
        for (const job of await queue.getWaiting(0, 9)) {
          if (job.id !== undefined && job.id !== null) removed += await queue.remove(job.id)
        }
      }
      await sleep(25)
    }
  } finally {
    await Promise.all(queues.map(async (q) => { await q.close() }))
  }
  return removed
}

export const crashPoints: Drill = {
  name: 'crash-points',
  run: async () => await withSale({ DRAIN_BATCH: '50' }, { stock: 500, shards: 2 }, async (sale) => {
    await sale.process('ingress')
    const doomed = await sale.process('worker', { SECKILL_FAULT: 'drain:process-kill-after-reserve' })
    await sale.createEvent()
    const brokenAt = Date.now()
    let crowdDone = false
    const crowd = sale.crowd(70_000, 2500, 20, { paceMs: 5 }).finally(() => { crowdDone = true })
    const removing = removeWaitingJobs(sale, () => crowdDone)
    while (doomed.alive && Date.now() - brokenAt < 30_000) await sleep(20)
    const killed = !doomed.alive
    await sale.process('worker')
    const repairedAt = Date.now()
    await crowd
    const removed = await removing
    await sale.settle()
    const fired = await sale.env.redis.get(sale.env.keys.faultFired)
    return await sale.verdict({
      name: 'crash-points',
      broke: 'waiting jobs removed by an operator\'s BullMQ tool throughout the crowd, and a worker killed between reservation and order write',
      brokenMs: repairedAt - brokenAt,
      recoverMs: Date.now() - repairedAt,
      extra: [
        { what: 'the worker died after reserving a batch', ok: killed && fired === 'drain:process-kill-after-reserve' },
        { what: `waiting jobs were removed (${removed})`, ok: removed > 0 }
      ]
    })
  })
}
