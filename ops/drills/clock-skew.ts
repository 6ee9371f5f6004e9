/**
 * Drill 14: clock skew. A 2-shard sale with a 4 s payment deadline and two worker processes, one
 * whose clock runs 30 s fast and one 30 s slow (CLOCK_SKEW_MS, src/util/clock.ts); the ingress's
 * clock is right. New buyers keep arriving; while the drill acts, winners are dealt in turn: one
 * pays at once, one pays with less than half a second left on MySQL's clock, one cancels, one lets
 * the deadline pass. After the acting window every new winner pays. Both workers drain and both
 * run the expiry loop. Expected (I8): no payable order expired early and none more than 1 s late,
 * by MySQL's clock (`expires_at` against the moment of expiry, `updated_at`); every pay inside the
 * deadline paid; every returned unit sold again and paid; 0 lost, 0 oversold, 0 duplicated.
 */
import type { Drill, DrillSale } from './harness'
import { freePort, sleep, withSale } from './harness'
import { returnsApplied } from '../../test/helpers/sale'
import { countByStatus, pendingOrders } from './harness'
import type { PendingOrder } from './harness'

const STOCK = 80
const SHARDS = 2
const SKEW_MS = 30_000
const PAYMENT_TIMEOUT_MS = 4000
/** How long winners are dealt pay / pay late / cancel / let expire; after it they all pay. */
const ACT_MS = 9000
/** A late payer pays when MySQL gives the order less than this (ms). */
const LATE_PAY_LEFT_MS = 450
const LIMIT_MS = 120_000

type Deal = 'pay' | 'pay-late' | 'cancel' | 'expire'
const DEALS: readonly Deal[] = ['pay', 'pay-late', 'cancel', 'expire']

/** Ms the order has left on MySQL's clock. */
async function leftMs (sale: DrillSale, id: number): Promise<number> {
  const [rows] = await sale.env.db.raw('SELECT TIMESTAMPDIFF(MICROSECOND, NOW(3), expires_at) / 1000 AS ms FROM orders WHERE id = ?', [id]) as [Array<{ ms: string }>]
  return Number(rows[0]?.ms ?? 0)
}

/** A worker's `seckill_orders_expired_total`, from its metrics listener. */
async function expiredBy (metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
  return Number(/^seckill_orders_expired_total(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? 0)
}

export const clockSkew: Drill = {
  name: 'clock-skew',
  run: async () => await withSale({ DRAIN_BATCH: '10', PAYMENT_TIMEOUT_MS: String(PAYMENT_TIMEOUT_MS) }, { stock: STOCK, shards: SHARDS }, async (sale) => {
    await sale.process('ingress')
    const metrics = { fast: await freePort(), slow: await freePort() }
    await sale.process('worker', { CLOCK_SKEW_MS: String(SKEW_MS), METRICS_PORT: String(metrics.fast) })
    await sale.process('worker', { CLOCK_SKEW_MS: String(-SKEW_MS), METRICS_PORT: String(metrics.slow) })
    await sale.createEvent()
    const http = sale.http()

    let arriving = true
    let nextBuyer = 400_000
    const crowd = Promise.all(Array.from({ length: 6 }, async () => {
      while (arriving) {
        await sale.buy(String(nextBuyer++), { patienceMs: 10_000 })
        await sleep(40)
      }
    }))

    // The workers' heartbeats carry their own clocks: how far ahead and behind they were seen.
    const seenSkew = { ahead: 0, behind: 0 }
    const lookAtHeartbeats = async (): Promise<void> => {
      const scores = await sale.env.redis.zrange(sale.env.keys.workers, 0, -1, 'WITHSCORES')
      const now = Date.now()
      for (let i = 1; i < scores.length; i += 2) {
        const off = Number(scores[i]) - now
        seenSkew.ahead = Math.max(seenSkew.ahead, off)
        seenSkew.behind = Math.min(seenSkew.behind, off)
      }
    }

    const dealt: Record<Deal, number> = { pay: 0, 'pay-late': 0, cancel: 0, expire: 0 }
    const refused: string[] = []
    /** Late payers whose pay came back refused when MySQL's clock had passed the deadline. */
    let arrivedLate = 0
    let paidNearDeadline = 0
    const seen = new Set<number>()
    const acts: Array<Promise<void>> = []
    const act = async (order: PendingOrder, deal: Deal): Promise<void> => {
      dealt[deal]++
      if (deal === 'expire') return
      if (deal === 'pay-late') await sleep(Math.max(0, await leftMs(sale, order.id) - LATE_PAY_LEFT_MS))
      const path = deal === 'cancel' ? 'cancel' : 'pay'
      sale.requests++
      const r = await http.request('POST', `/api/v1/orders/${order.id}/${path}`, { token: sale.env.token(String(order.user_id)) })
      if (r.status < 500) sale.served++
      if (r.status === 200) {
        if (deal === 'pay-late') paidNearDeadline++
        return
      }
      // A late payer's request can reach the service after the deadline on a loaded machine (the
      // sleep overshoots, the request queues): refused then is right. A refusal is a defect only
      // when MySQL's clock, read after the answer came back, still gives the order time.
      if (deal === 'pay-late' && r.status === 409 && await leftMs(sale, order.id) <= 0) {
        arrivedLate++
        return
      }
      refused.push(`${deal} of order ${order.id}: ${r.status} ${String(r.body?.code)}`)
    }

    const startedAt = Date.now()
    let turn = 0
    let done = false
    while (!done && Date.now() - startedAt < LIMIT_MS) {
      await lookAtHeartbeats()
      const fresh = (await pendingOrders(sale)).filter((o) => !seen.has(o.id))
      for (const o of fresh) seen.add(o.id)
      const acting = Date.now() - startedAt < ACT_MS
      for (const o of fresh) acts.push(act(o, acting ? DEALS[turn++ % DEALS.length] as Deal : 'pay'))
      if (!acting) {
        const byStatus = await countByStatus(sale)
        done = (byStatus.paid ?? 0) === STOCK && (byStatus.pending_payment ?? 0) === 0 && await returnsApplied(sale.env, sale.eventId)
      }
      await sleep(100)
    }
    arriving = false
    await Promise.all(acts)
    await crowd
    const settleMs = await sale.settle()

    const byStatus = await countByStatus(sale)
    const [timing] = await sale.env.db.raw(
      `SELECT COUNT(*) AS n, MIN(TIMESTAMPDIFF(MICROSECOND, expires_at, updated_at)) / 1000 AS earliest, MAX(TIMESTAMPDIFF(MICROSECOND, expires_at, updated_at)) / 1000 AS latest
       FROM orders WHERE event_id = ? AND status = 'expired'`, [sale.eventId]) as [Array<{ n: number | string, earliest: string | null, latest: string | null }>]
    const expired = { n: Number(timing[0]?.n ?? 0), earliest: Number(timing[0]?.earliest ?? 0), latest: Number(timing[0]?.latest ?? 0) }
    const [paidLate] = await sale.env.db.raw("SELECT COUNT(*) AS n FROM orders WHERE event_id = ? AND status = 'paid' AND paid_at > expires_at", [sale.eventId]) as [Array<{ n: number | string }>]
    const returns = await sale.env.db('unit_returns').where({ event_id: sale.eventId }).count({ n: '*' }).first() as { n: number | string }
    const backAgain = (byStatus.cancelled ?? 0) + (byStatus.expired ?? 0)
    const by = { fast: await expiredBy(metrics.fast), slow: await expiredBy(metrics.slow) }
    return await sale.verdict({
      name: 'clock-skew',
      broke: `two workers, one clock 30 s fast and one 30 s slow; 2 shards, ${PAYMENT_TIMEOUT_MS / 1000} s to pay; for ${ACT_MS / 1000} s winners pay at once, pay with < ${LATE_PAY_LEFT_MS} ms left, cancel or let the deadline pass`,
      brokenMs: Date.now() - startedAt,
      recoverMs: settleMs,
      extra: [
        { what: `the workers' clocks were off: heartbeats stamped ${(seenSkew.ahead / 1000).toFixed(1)} s ahead and ${(-seenSkew.behind / 1000).toFixed(1)} s behind the drill's clock`, ok: seenSkew.ahead > SKEW_MS - 5000 && seenSkew.behind < -(SKEW_MS - 5000) },
        { what: `winners dealt: ${dealt.pay} paid at once, ${dealt['pay-late']} paid with < ${LATE_PAY_LEFT_MS} ms left (${paidNearDeadline} paid, ${arrivedLate} reached the service after the deadline and were refused), ${dealt.cancel} cancelled, ${dealt.expire} left to expire; every pay and cancel inside the deadline answered 200${refused.length > 0 ? ` (refused: ${refused.slice(0, 5).join('; ')})` : ''}`, ok: refused.length === 0 && paidNearDeadline > 0 && dealt.expire > 0 },
        { what: `I8: ${expired.n} orders expired ${expired.earliest} to ${expired.latest} ms after their deadlines by MySQL's clock (none early, none over 1000 ms)`, ok: expired.n > 0 && expired.earliest >= 0 && expired.latest <= 1000 },
        { what: `no order paid after its deadline (${Number(paidLate[0]?.n ?? 0)})`, ok: Number(paidLate[0]?.n ?? 0) === 0 },
        { what: `expired by the fast worker's loop: ${by.fast}, by the slow worker's: ${by.slow} (of ${expired.n})`, ok: by.fast + by.slow === expired.n },
        { what: `${byStatus.cancelled ?? 0} cancelled and ${byStatus.expired ?? 0} expired orders, each recorded as one return (${Number(returns.n)})`, ok: backAgain === Number(returns.n) },
        { what: `every returned unit was sold again and paid: ${byStatus.paid ?? 0} of ${STOCK} paid, ${byStatus.pending_payment ?? 0} pending`, ok: done && (byStatus.paid ?? 0) === STOCK },
        { what: `${nextBuyer - 400_000} buyers arrived during the drill`, ok: true }
      ]
    })
  })
}
