/**
 * Drill 2: a drain thread that throws, or hangs, in the middle of a batch (after reserving stock).
 * The batch is retried (on a fresh thread for a hang, after DRAIN_BATCH_TIMEOUT_MS); reserving is
 * idempotent per ticket, so nothing is reserved or written twice.
 */
import type { Drill } from './harness'
import { sleep, withSale } from './harness'

function threadDrill (what: 'throw' | 'hang'): Drill {
  const fault = `drain:thread-${what}-after-reserve`
  const name = `thread-${what}`
  return {
    name,
    run: async () => await withSale({ SECKILL_FAULT: fault, DRAIN_BATCH: '50', DRAIN_BATCH_TIMEOUT_MS: '2000' }, { stock: 400 }, async (sale) => {
      await sale.process('all')
      await sale.createEvent()
      const started = Date.now()
      let firedAt = 0
      const watch = (async () => {
        while (await sale.env.redis.get(sale.env.keys.faultFired) === null && Date.now() - started < 30_000) await sleep(10)
        firedAt = Date.now()
      })()
      await sale.crowd(30_000, 2000, 30)
      await watch
      await sale.settle()
      const fired = await sale.env.redis.get(sale.env.keys.faultFired)
      return await sale.verdict({
        name,
        broke: what === 'throw'
          ? 'a drain thread threw in a batch after reserving its stock'
          : 'a drain thread hung for good in a batch after reserving (abandoned after 2 s)',
        brokenMs: what === 'hang' ? 2000 : 0,
        recoverMs: Date.now() - firedAt,
        extra: [{ what: `the fault ${fault} fired`, ok: fired === fault }]
      })
    })
  }
}

export const threadThrow = threadDrill('throw')
export const threadHang = threadDrill('hang')
