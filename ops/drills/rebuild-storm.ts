/**
 * Drill 15: rebuild storm. A 4-shard sale on a redis-server of its own (no persistence), two
 * ingress and two worker processes, a short payment deadline; new buyers keep arriving the whole
 * time. While the drill acts, winners are dealt in turn: one pays, one cancels, one lets the
 * deadline pass; meanwhile Redis is flushed three times. Every process that finds the sale gone
 * rebuilds it -- ingresses on the next buy, workers on their next round -- so rebuilds of the same
 * sale race each other and the cancels and expiries committing meanwhile; they run one at a time
 * under the event's row lock, each warming only under its own fence. After the acting window
 * every new winner pays. Expected: every unit that came back was sold again and paid (the whole
 * stock paid), tickets whose state went with Redis read `failed` (`lost_in_redis`), none hangs;
 * 0 lost, 0 oversold, 0 duplicated, Redis and MySQL agree (I6).
 */
import type { Drill } from './harness'
import { redisAt, sleep, withSale } from './harness'
import { returnsApplied } from '../../test/helpers/sale'
import { countByStatus, pendingOrders } from './harness'
import type { PendingOrder } from './harness'
import { startPrivateRedis } from '../../test/helpers/redis-server'

const STOCK = 120
const SHARDS = 4
const PAYMENT_TIMEOUT_MS = 2500
/** How long winners are dealt pay / cancel / let expire; after it they all pay. */
const ACT_MS = 9000
/** When Redis is flushed, from the start of the acting window. */
const FLUSH_AT_MS = [2000, 4500, 7000]
const LIMIT_MS = 120_000

type Deal = 'pay' | 'cancel' | 'expire'

export const rebuildStorm: Drill = {
  name: 'rebuild-storm',
  run: async () => {
    const server = await startPrivateRedis()
    const redis = redisAt(server.url)
    try {
      return await withSale({ REDIS_URL: server.url, DRAIN_BATCH: '10', PAYMENT_TIMEOUT_MS: String(PAYMENT_TIMEOUT_MS) }, { stock: STOCK, shards: SHARDS }, async (sale) => {
        await sale.process('ingress')
        await sale.process('ingress')
        await sale.process('worker')
        await sale.process('worker')
        await sale.createEvent()

        // New buyers arrive the whole time, 8 clients each sending a buyer every 40 ms.
        let arriving = true
        let nextBuyer = 400_000
        const crowd = Promise.all(Array.from({ length: 8 }, async () => {
          while (arriving) {
            await sale.buy(String(nextBuyer++), { patienceMs: 20_000 })
            await sleep(40)
          }
        }))

        const dealt = { pay: 0, cancel: 0, expire: 0, failed: 0 }
        const seen = new Set<number>()
        const flushes: number[] = []
        const startedAt = Date.now()
        let turn = 0
        const act = async (order: PendingOrder, deal: Deal): Promise<void> => {
          dealt[deal]++
          if (deal === 'expire') return
          sale.requests++
          const r = await sale.http().request('POST', `/api/v1/orders/${order.id}/${deal}`, { token: sale.env.token(String(order.user_id)) })
          if (r.status < 500) sale.served++
          if (r.status !== 200) dealt.failed++
        }

        let done = false
        while (!done) {
          const elapsed = Date.now() - startedAt
          if (elapsed > LIMIT_MS) break
          if (flushes.length < FLUSH_AT_MS.length && elapsed >= (FLUSH_AT_MS[flushes.length] as number)) {
            await redis.flushall()
            flushes.push(Number((await sale.env.db('unit_returns').where({ event_id: sale.eventId }).count({ n: '*' }).first() as { n: number | string }).n))
          }
          const fresh = (await pendingOrders(sale)).filter((o) => !seen.has(o.id))
          for (const o of fresh) seen.add(o.id)
          const acting = Date.now() - startedAt < ACT_MS
          await Promise.all(fresh.map(async (o) => await act(o, acting ? (['pay', 'cancel', 'expire'] as const)[turn++ % 3] as Deal : 'pay')))
          if (!acting) {
            const byStatus = await countByStatus(sale)
            done = (byStatus.paid ?? 0) === STOCK && (byStatus.pending_payment ?? 0) === 0 && await returnsApplied(sale.env, sale.eventId)
          }
          await sleep(100)
        }
        const repairedAt = Date.now()
        arriving = false
        await crowd
        await sale.settle(redis)

        const byStatus = await countByStatus(sale)
        const returns = await sale.env.db('unit_returns').where({ event_id: sale.eventId }).count({ n: '*' }).first() as { n: number | string }
        const rebuilds = (await sale.env.db('seckill_events').first('rebuild_fence').where({ id: sale.eventId }) as { rebuild_fence: number | string }).rebuild_fence
        return await sale.verdict({
          name: 'rebuild-storm',
          broke: `Redis (no persistence) flushed 3 times during a 4-shard sale with 2 ingresses and 2 workers, while a third of the winners cancel and a third let the ${PAYMENT_TIMEOUT_MS / 1000} s deadline pass`,
          brokenMs: ACT_MS,
          recoverMs: Date.now() - repairedAt,
          redis,
          lostStateOk: true,
          extra: [
            { what: `Redis flushed ${flushes.length} times (returns recorded by then: ${flushes.join(', ')}); ${Number(rebuilds)} warm-ups and rebuilds of the sale, one at a time`, ok: flushes.length === FLUSH_AT_MS.length && flushes.some((n) => n > 0) },
            { what: `winners dealt: ${dealt.pay} paid, ${dealt.cancel} cancelled, ${dealt.expire} left to expire (${dealt.failed} pay/cancel answers not 200)`, ok: dealt.cancel > 0 && dealt.expire > 0 && dealt.failed === 0 },
            { what: `${byStatus.cancelled ?? 0} cancelled and ${byStatus.expired ?? 0} expired orders, each recorded as a return (${Number(returns.n)} returns, lost-in-Redis ones included)`, ok: (byStatus.cancelled ?? 0) + (byStatus.expired ?? 0) <= Number(returns.n) && (byStatus.expired ?? 0) > 0 },
            { what: `every returned unit was sold again and paid: ${byStatus.paid ?? 0} of ${STOCK} paid, ${byStatus.pending_payment ?? 0} pending, in ${((repairedAt - startedAt) / 1000).toFixed(1)} s`, ok: done && (byStatus.paid ?? 0) === STOCK },
            { what: `${nextBuyer - 400_000} buyers arrived during the drill`, ok: true }
          ]
        })
      })
    } finally {
      redis.disconnect()
      await server.stop()
    }
  }
}
