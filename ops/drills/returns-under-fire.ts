/**
 * Drill 12: returns under fire. A 4-shard sale with a short payment deadline; new buyers keep
 * arriving the whole time. While the drill acts, winners are dealt in turn: one pays, one
 * cancels, one lets the deadline pass (its order expires). Mid-way, while units are coming back,
 * one of the two workers is killed with SIGKILL (restarted 300 ms later). After the acting
 * window every new winner pays. Expected: every unit that came back (cancel or expiry) was
 * applied once by its shard's owner and sold again to a buyer who was waiting, so the sale ends
 * with the whole stock paid; 0 lost, 0 oversold, 0 duplicated.
 */
import type { Drill } from './harness'
import { sleep, withSale } from './harness'
import { returnsApplied } from '../../test/helpers/sale'
import { countByStatus, pendingOrders } from './harness'
import type { PendingOrder } from './harness'

const STOCK = 120
const SHARDS = 4
const PAYMENT_TIMEOUT_MS = 2500
/** How long winners are dealt pay / cancel / let expire; after it they all pay. */
const ACT_MS = 9000
/** When the worker is killed, from the start of the acting window. */
const KILL_AT_MS = 4000
/** No drill runs longer: the sale must have sold every returned unit by then. */
const LIMIT_MS = 120_000

type Deal = 'pay' | 'cancel' | 'expire'

/** Counts what happened to the winners. */
interface Dealt { pay: number, cancel: number, expire: number, failed: number }

export const returnsUnderFire: Drill = {
  name: 'returns-under-fire',
  run: async () => await withSale({ DRAIN_BATCH: '10', PAYMENT_TIMEOUT_MS: String(PAYMENT_TIMEOUT_MS) }, { stock: STOCK, shards: SHARDS }, async (sale) => {
    await sale.process('ingress')
    const workers = [await sale.process('worker'), await sale.process('worker')]
    await sale.createEvent()
    const http = sale.http()

    // New buyers arrive the whole time, 8 clients each sending a buyer every 40 ms.
    let arriving = true
    let nextBuyer = 300_000
    const crowd = Promise.all(Array.from({ length: 8 }, async () => {
      while (arriving) {
        await sale.buy(String(nextBuyer++), { patienceMs: 10_000 })
        await sleep(40)
      }
    }))

    const dealt: Dealt = { pay: 0, cancel: 0, expire: 0, failed: 0 }
    const seen = new Set<number>()
    const startedAt = Date.now()
    let returnsAtKill = -1
    let killedAt = 0
    let repairedAt = 0
    let turn = 0
    const act = async (order: PendingOrder, deal: Deal): Promise<void> => {
      dealt[deal]++
      if (deal === 'expire') return
      sale.requests++
      const r = await http.request('POST', `/api/v1/orders/${order.id}/${deal}`, { token: sale.env.token(String(order.user_id)) })
      if (r.status < 500) sale.served++
      if (r.status !== 200) dealt.failed++
    }

    let done = false
    while (!done) {
      const elapsed = Date.now() - startedAt
      if (elapsed > LIMIT_MS) break
      if (killedAt === 0 && elapsed >= KILL_AT_MS) {
        returnsAtKill = Number((await sale.env.db('unit_returns').where({ event_id: sale.eventId }).count({ n: '*' }).first() as { n: number | string }).n)
        killedAt = Date.now()
        await workers[0]?.kill()
        await sleep(300)
        await workers[0]?.start()
        repairedAt = Date.now()
      }
      const fresh = (await pendingOrders(sale)).filter((o) => !seen.has(o.id))
      for (const o of fresh) seen.add(o.id)
      const acting = Date.now() - startedAt < ACT_MS
      await Promise.all(fresh.map(async (o) => await act(o, acting ? (['pay', 'cancel', 'expire'] as const)[turn++ % 3] as Deal : 'pay')))
      if (!acting) {
        // Done when every unit is paid for: each one that came back was sold again and paid.
        const byStatus = await countByStatus(sale)
        done = (byStatus.paid ?? 0) === STOCK && (byStatus.pending_payment ?? 0) === 0 && await returnsApplied(sale.env, sale.eventId)
      }
      await sleep(100)
    }
    arriving = false
    await crowd
    await sale.settle()

    const byStatus = await countByStatus(sale)
    const returns = await sale.env.db('unit_returns').where({ event_id: sale.eventId }).count({ n: '*' }).first() as { n: number | string }
    const backAgain = (byStatus.cancelled ?? 0) + (byStatus.expired ?? 0)
    return await sale.verdict({
      name: 'returns-under-fire',
      broke: `4 shards, ${PAYMENT_TIMEOUT_MS / 1000} s to pay; for ${ACT_MS / 1000} s a third of the winners cancel and a third let the deadline pass while buyers keep arriving; a worker killed with SIGKILL mid-way`,
      brokenMs: repairedAt - killedAt,
      recoverMs: Date.now() - repairedAt,
      extra: [
        { what: `winners dealt: ${dealt.pay} paid, ${dealt.cancel} cancelled, ${dealt.expire} left to expire (${dealt.failed} pay/cancel answers not 200)`, ok: dealt.cancel > 0 && dealt.expire > 0 && dealt.failed === 0 },
        { what: `the worker was killed while units were coming back (${returnsAtKill} returned by then)`, ok: returnsAtKill > 0 },
        { what: `${byStatus.cancelled ?? 0} cancelled and ${byStatus.expired ?? 0} expired orders, each recorded as one return (${Number(returns.n)})`, ok: backAgain === Number(returns.n) && (byStatus.expired ?? 0) > 0 },
        { what: `every returned unit was sold again and paid: ${byStatus.paid ?? 0} of ${STOCK} paid, ${byStatus.pending_payment ?? 0} pending, in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`, ok: done && (byStatus.paid ?? 0) === STOCK },
        { what: `${nextBuyer - 300_000} buyers arrived during the drill`, ok: true }
      ]
    })
  })
}
