/**
 * Drill 7: replays. Every buyer sends the same buy 8 times at once (half with an Idempotency-Key,
 * half without); winners replay pay 8 times at once, others replay cancel 8 times at once.
 * Expected: one ticket per buyer (I7), one payment per order, each cancelled unit returned once
 * and then sold once more to a new buyer, never twice.
 */
import type { Drill } from './harness'
import { withSale } from './harness'
import { setTimeout as sleep } from 'node:timers/promises'
import { pool } from '../../test/helpers/sale'

const STOCK = 200
const REPLAYS = 8

export const replays: Drill = {
  name: 'replays',
  run: async () => await withSale({}, { stock: STOCK }, async (sale) => {
    await sale.process('all')
    await sale.createEvent()
    const buyers = Array.from({ length: 400 }, (_, i) => String(100_000 + i))
    await pool(buyers, 10, async (u, i) => {
      await Promise.all(Array.from({ length: REPLAYS }, async () => await sale.buy(u, { idempotencyKey: i % 2 === 0 })))
    })
    await sale.settle()

    const http = sale.http()
    const won: Array<{ user: string, order: string }> = []
    await pool(buyers, 20, async (u) => {
      const id = [...sale.buyers.get(u)?.tickets ?? []][0]
      if (id === undefined) return
      const r = await http.request('GET', `/api/v1/tickets/${id}`, { token: sale.env.token(u) })
      if (r.body.data?.status === 'won') won.push({ user: u, order: r.body.data.order_id as string })
    })
    const payers = won.slice(0, 100)
    const cancellers = won.slice(100, 160)
    const replay = async (path: string, user: string, want: string): Promise<boolean> => {
      const answers = await Promise.all(Array.from({ length: REPLAYS }, async () => await http.request('POST', path, { token: sale.env.token(user) })))
      sale.requests += answers.length
      sale.served += answers.filter((a) => a.status < 500).length
      return answers.every((a) => a.status === 200 && a.body.data.status === want)
    }
    const paidOk = await pool(payers, 10, async (w) => await replay(`/api/v1/orders/${w.order}/pay`, w.user, 'paid'))
    const cancelOk = await pool(cancellers, 10, async (w) => await replay(`/api/v1/orders/${w.order}/cancel`, w.user, 'cancelled'))
    const afterCancel = await sale.env.db('seckill_events').first('sold').where({ id: sale.eventId }) as { sold: number }
    // A cancel answers once the return is recorded; the shard's owner puts the unit back on sale
    // right after. The new crowd comes when the event page shows the units back.
    const cancelledAt = Date.now()
    let view: { status?: string, remaining?: number } = {}
    while (Date.now() - cancelledAt < 10_000) {
      view = (await http.request('GET', `/api/v1/events/${sale.eventId}`)).body.data ?? {}
      if (view.status === 'active' && view.remaining === 60) break
      await sleep(10)
    }
    const backMs = Date.now() - cancelledAt

    // The returned units go to new buyers, each exactly once.
    const started = Date.now()
    await sale.crowd(200_000, 150, 10)
    const recoverMs = await sale.settle() + (Date.now() - started)
    const newWinners = await sale.env.db('orders').where({ event_id: sale.eventId }).andWhere('user_id', '>=', 200_000).count({ n: '*' }).first() as { n: number | string }
    const paid = await sale.env.db('orders').where({ event_id: sale.eventId, status: 'paid' }).count({ n: '*' }).first() as { n: number | string }
    return await sale.verdict({
      name: 'replays',
      broke: `every buy, pay and cancel sent ${REPLAYS} times at once (400 buyers, 100 payments, 60 cancels)`,
      brokenMs: 0,
      recoverMs,
      extra: [
        { what: `${won.length} won the first round (the whole stock)`, ok: won.length === STOCK },
        { what: 'every replayed pay answered the same paid order; 100 orders paid', ok: paidOk.every(Boolean) && Number(paid.n) === 100 },
        { what: `the 60 units were back on sale ${backMs} ms after the last cancel answered (event ${view.status ?? '?'}, ${view.remaining ?? '?'} remaining)`, ok: view.status === 'active' && view.remaining === 60 },
        { what: `every replayed cancel answered the same cancelled order; sold went ${STOCK} → ${afterCancel.sold}`, ok: cancelOk.every(Boolean) && afterCancel.sold === STOCK - 60 },
        { what: `the 60 returned units were sold again once each (${Number(newWinners.n)} new orders)`, ok: Number(newWinners.n) === 60 }
      ]
    })
  })
}
