/**
 * Drill: payments under fire. 200 buyers win a sale and pay through the local provider while it
 * misbehaves the way real providers do: every answer and webhook delayed 0–5 s, 10 % of webhooks
 * never sent, 20 % sent twice; and the order deadline is short (10 s, less than a slow provider's
 * answer, a slow buyer and a slow webhook together: up to 12 s). A tenth of the winners never pay; a tenth ask where to pay twice
 * at once. One ingress (it runs the provider's page and sends its webhooks) and one worker (expiry,
 * the payment reconciler).
 *
 * At the end an admin refunds ten paid orders, the provider still slow.
 *
 * Expected: every order ends paid, expired or refunded; every payment the provider captured
 * belongs to a paid order or was refunded in full (I9), none twice; dropped webhooks are found by
 * the reconciler; every expired order's unit is back in the sale once (I1–I6).
 */
import { randomBytes } from 'node:crypto'
import type { Drill } from './harness'
import { sleep, withSale } from './harness'
import { pool } from '../../test/helpers/sale'
import { parsePrometheus, sum } from '../../test/helpers/prometheus'

const WINNERS = 200
/** More units than buyers: the units that come back stay in the sale, and the audit's I5 holds. */
const STOCK = 240
const PAYMENT_TIMEOUT_MS = 10_000
const LIMIT_MS = 150_000
/** Paid orders an admin refunds at the end. */
const REFUNDS = 10

interface Tally { started: number, approved: number, notPayable: number, providerDown: number, never: number, twice: number }

export const paymentsUnderFire: Drill = {
  name: 'payments-under-fire',
  run: async () => {
    const metricsToken = randomBytes(24).toString('hex')
    return await withSale({
      DRAIN_BATCH: '50',
      PAYMENT_TIMEOUT_MS: String(PAYMENT_TIMEOUT_MS),
      LOCAL_PAY_DELAY_MS: '5000',
      LOCAL_PAY_DROP_RATE: '0.1',
      LOCAL_PAY_REPEAT_RATE: '0.2',
      PAYMENT_RECONCILE_AFTER_MS: '1500',
      PAYMENT_RECONCILE_EVERY_MS: '500',
      METRICS_TOKEN: metricsToken
    }, { stock: STOCK }, async (sale) => {
      const ingress = await sale.process('ingress')
      await sale.process('worker')
      await sale.createEvent()
      await sale.crowd(1, WINNERS, 20)
      await sale.settle()
      const db = sale.env.db
      const orders = await db('orders').select('id', 'user_id').where({ event_id: sale.eventId }) as Array<{ id: number, user_id: number }>
      const http = sale.http()
      const tally: Tally = { started: 0, approved: 0, notPayable: 0, providerDown: 0, never: 0, twice: 0 }
      const startedAt = Date.now()

      await pool(orders, WINNERS, async (o, i) => {
        if (i % 10 === 0) { tally.never++; return }
        const token = sale.env.token(String(o.user_id))
        const ask = async (): Promise<{ status: number, body: any }> => {
          sale.requests++
          const r = await http.request('POST', `/api/v1/orders/${o.id}/payments`, { token })
          if (r.status < 500) sale.served++
          return r
        }
        const answers = i % 10 === 1 ? await Promise.all([ask(), ask()]) : [await ask()]
        if (answers.length === 2) {
          tally.twice++
          if (answers[0]?.body?.data?.redirect_url !== answers[1]?.body?.data?.redirect_url) throw new Error(`order ${o.id}: two places to pay`)
        }
        const r = answers[0] as { status: number, body: any }
        if (r.status === 409) { tally.notPayable++; return }
        if (r.status !== 200) { tally.providerDown++; return }
        tally.started++
        // The buyer takes 0–2 s on the provider's page.
        await sleep(Math.floor(Math.random() * 2000))
        sale.requests++
        const approve = await fetch(`${http.base}${r.body.data.redirect_url as string}/approve`, { method: 'POST', redirect: 'manual' })
        if (approve.status < 500) sale.served++
        if (approve.status === 303) tally.approved++
      })

      // Settled: no order pending, every captured payment decided, no refund unconfirmed.
      const count = async (sql: string, bindings: Array<string | number> = []): Promise<number> => Number(((await db.raw(sql, bindings)) as [Array<{ n: number | string }>])[0][0]?.n ?? 0)
      const undecided = async (): Promise<number> =>
        await count("SELECT COUNT(*) AS n FROM orders WHERE event_id = ? AND status = 'pending_payment'", [sale.eventId]) +
        await count("SELECT COUNT(*) AS n FROM local_pay_intents i JOIN payments p ON p.provider = 'local' AND p.provider_ref = i.id WHERE i.status = 'succeeded' AND p.status NOT IN ('captured', 'refunded')") +
        await count("SELECT COUNT(*) AS n FROM payment_refunds WHERE status = 'requested'")
      while (await undecided() > 0 && Date.now() - startedAt < LIMIT_MS) await sleep(200)
      // Support refunds ten paid orders while the provider is still slow; they end `refunded`.
      const toRefund = (await db('orders').select('id').where({ event_id: sale.eventId, status: 'paid' }).limit(REFUNDS) as Array<{ id: number }>).map((o) => o.id)
      const refundAnswers = await Promise.all(toRefund.map(async (id) => {
        sale.requests++
        const r = await http.request('POST', `/api/v1/admin/orders/${id}/refund`, { token: sale.env.token('1', 'admin'), body: {} })
        if (r.status < 500) sale.served++
        return r.status
      }))
      while (await undecided() > 0 && Date.now() - startedAt < LIMIT_MS) await sleep(200)
      const settledAt = Date.now()
      await sale.settle()

      const byStatus = Object.fromEntries((await db('orders').select('status').count({ n: '*' }).where({ event_id: sale.eventId }).groupBy('status') as Array<{ status: string, n: number | string }>).map((r) => [r.status, Number(r.n)]))
      // I9: every payment the provider captured belongs to a paid order, or went back in full.
      const captured = await db.raw(`SELECT i.id, i.amount_cents, i.refunded_cents, p.status AS payment, o.status AS order_status
        FROM local_pay_intents i JOIN payments p ON p.provider = 'local' AND p.provider_ref = i.id JOIN orders o ON o.id = p.order_id
        WHERE i.status = 'succeeded'`) as [Array<{ id: string, amount_cents: number, refunded_cents: number, payment: string, order_status: string }>]
      const i9 = captured[0].filter((c) => !((c.order_status === 'paid' && c.payment === 'captured' && c.refunded_cents === 0) || (c.payment === 'refunded' && c.refunded_cents === c.amount_cents)))
      const refundedCaptures = captured[0].filter((c) => c.refunded_cents === c.amount_cents).length
      const intentsPerPayment = await count('SELECT COUNT(*) AS n FROM (SELECT payment_id FROM local_pay_intents GROUP BY payment_id HAVING COUNT(*) > 1) x')
      const overRefunded = await count('SELECT COUNT(*) AS n FROM local_pay_intents WHERE refunded_cents > amount_cents')
      const paidWithoutCapture = await count("SELECT COUNT(*) AS n FROM orders o LEFT JOIN payments p ON p.order_id = o.id WHERE o.event_id = ? AND o.status = 'paid' AND (p.status IS NULL OR p.status <> 'captured')", [sale.eventId])
      const late = await count("SELECT COUNT(*) AS n FROM payments WHERE late IS NOT NULL AND status = 'refunded'")
      const lateAudited = await count("SELECT COUNT(*) AS n FROM admin_audit WHERE action = 'payment.late_refund'")
      const reconciled = await count("SELECT COUNT(*) AS n FROM payment_events WHERE event_id LIKE 'reconcile:%' AND outcome IN ('paid', 'late_refund')")
      const expiredReturns = await count("SELECT COUNT(*) AS n FROM unit_returns WHERE event_id = ? AND reason = 'expired'", [sale.eventId])
      const metrics = parsePrometheus(await (await fetch(`${ingress.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })).text())
      const duplicates = sum(metrics, 'seckill_payment_outcomes_total', { outcome: 'duplicate' })
      const settled = (byStatus.paid ?? 0) + (byStatus.expired ?? 0) + (byStatus.refunded ?? 0)

      return await sale.verdict({
        name: 'payments-under-fire',
        broke: `${WINNERS} winners pay through the local provider: answers and webhooks delayed 0–5 s, 10 % of webhooks dropped, 20 % sent twice; ${PAYMENT_TIMEOUT_MS / 1000} s to pay`,
        brokenMs: settledAt - startedAt,
        recoverMs: settledAt - startedAt,
        extra: [
          { what: `winners: ${tally.started} started a payment (${tally.twice} asked twice at once, one place to pay each), ${tally.approved} approved it, ${tally.notPayable} asked after their deadline (409), ${tally.never} never paid, ${tally.providerDown} provider errors`, ok: tally.approved > 0 && tally.providerDown === 0 },
          { what: `an admin refunded ${toRefund.length} paid orders (answers ${[...new Set(refundAnswers)].join(', ')}); ${byStatus.refunded ?? 0} orders refunded`, ok: refundAnswers.every((s) => s === 200) && (byStatus.refunded ?? 0) === toRefund.length && toRefund.length === REFUNDS },
          { what: `every order ended paid, expired or refunded: ${byStatus.paid ?? 0} paid, ${byStatus.expired ?? 0} expired, ${byStatus.refunded ?? 0} refunded, ${byStatus.pending_payment ?? 0} pending, in ${((settledAt - startedAt) / 1000).toFixed(1)} s`, ok: settled === WINNERS },
          { what: `I9: ${captured[0].length} payments captured by the provider, each for a paid order or refunded in full (${refundedCaptures} refunded); ${i9.length} not`, ok: i9.length === 0 },
          { what: `no order paid twice: ${intentsPerPayment} payments with two provider payments, ${overRefunded} refunded beyond their amount, ${paidWithoutCapture} paid orders without a captured payment`, ok: intentsPerPayment === 0 && overRefunded === 0 && paidWithoutCapture === 0 },
          { what: `${late} payments landed after their order expired, each refunded and audited (${lateAudited} audit rows)`, ok: late === lateAudited },
          { what: `${reconciled} payments settled by the reconciler (their webhooks dropped or still delayed); ${duplicates} repeated webhooks found done`, ok: true },
          { what: `${byStatus.expired ?? 0} expired orders, each one return of its unit (${expiredReturns})`, ok: expiredReturns === (byStatus.expired ?? 0) }
        ]
      })
    })
  }
}
