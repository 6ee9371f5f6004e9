/**
 * Drill 5: crashes at the two seams of the buy path, through the test-only fault points
 * (`SECKILL_FAULT`, never set in production):
 *   - between admission and enqueue: one ingress admits buyers but never queues their jobs, as if
 *     it died between the two each time; the drain finds the gaps and serves those tickets in order;
 *   - between reservation and the order transaction: a worker process kills itself (SIGKILL) after
 *     reserving a batch; the next owner runs the batch again, and the reservation, idempotent per
 *     ticket, is not taken twice.
 */
import type { Drill } from './harness'
import { sleep, withSale } from './harness'

export const crashPoints: Drill = {
  name: 'crash-points',
  run: async () => await withSale({ DRAIN_BATCH: '50' }, { stock: 500, shards: 2 }, async (sale) => {
    await sale.process('ingress')
    await sale.process('ingress', { SECKILL_FAULT: 'ingress:skip-enqueue' })
    const doomed = await sale.process('worker', { SECKILL_FAULT: 'drain:process-kill-after-reserve' })
    await sale.createEvent()
    const brokenAt = Date.now()
    const crowd = sale.crowd(70_000, 2500, 20, { paceMs: 5 })
    while (doomed.alive && Date.now() - brokenAt < 30_000) await sleep(20)
    const killed = !doomed.alive
    await sale.process('worker')
    const repairedAt = Date.now()
    await crowd
    await sale.settle()
    const fired = await sale.env.redis.get(sale.env.keys.faultFired)
    return await sale.verdict({
      name: 'crash-points',
      broke: 'an ingress admitting without enqueueing (half the buyers), and a worker killed between reservation and order write',
      brokenMs: repairedAt - brokenAt,
      recoverMs: Date.now() - repairedAt,
      extra: [{ what: 'the worker died after reserving a batch', ok: killed && fired === 'drain:process-kill-after-reserve' }]
    })
  })
}
