// Regressions from the security review: an admin could pay a buyer's order; sale times far outside
// any real sale answered 500 (year 9999) or were stored wrong (year 0); all-space titles were taken.
import t from 'tap'
import { testEnv } from '../helpers/env'
import { createSale, saleIdle, startTestService, until } from '../helpers/sale'

t.test('an admin may cancel a buyer\'s order but not pay it', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 2 })
  const tickets = []
  for (const u of [31, 32]) tickets.push((await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) })).body.data.ticket_id as string)
  await until(async () => await saleIdle(env, eventId, 1), 20_000, 'the drain')
  const orderOf = async (u: number, ticket: string): Promise<string> =>
    (await http.request('GET', `/api/v1/tickets/${ticket}`, { token: env.token(u) })).body.data.order_id as string
  const [first, second] = [await orderOf(31, tickets[0] as string), await orderOf(32, tickets[1] as string)]
  const admin = env.token(1, 'admin')

  const paid = await http.request('POST', `/api/v1/orders/${first}/pay`, { token: admin })
  t.equal(paid.status, 403, 'an admin paying a buyer\'s order is refused')
  t.equal(paid.body.code, 'FORBIDDEN')
  const row = await env.db('orders').first('status').where({ id: first }) as { status: string }
  t.equal(row.status, 'pending_payment', 'and nothing changed')
  t.equal((await http.request('POST', `/api/v1/orders/${first}/pay`, { token: env.token(32) })).status, 404, 'another buyer does not see it')
  t.equal((await http.request('POST', `/api/v1/orders/${first}/pay`, { token: env.token(31) })).status, 200, 'its buyer pays it')
  t.equal((await http.request('POST', `/api/v1/orders/${second}/cancel`, { token: admin })).status, 200, 'an admin cancels for support')
})

t.test('sale times outside 2000-2100 and blank titles: 400, nothing stored', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const admin = env.token(1, 'admin')
  const product = await http.request('POST', '/api/v1/admin/products', { token: admin, body: { title: 'Sneaker', price_cents: 100 } })
  const base = { product_id: product.body.data.id, title: 'Drop', price_cents: 90, stock: 5 }
  const cases: Array<[string, Record<string, unknown>]> = [
    ['end in year 9999', { ...base, start_at: new Date().toISOString(), end_at: '9999-12-31T23:59:59-14:00' }],
    ['start in year 0', { ...base, start_at: '0000-01-01T00:00:00Z', end_at: '2099-01-01T00:00:00Z' }],
    ['start in 1999', { ...base, start_at: '1999-12-31T23:59:59Z', end_at: '2099-01-01T00:00:00Z' }],
    ['blank title', { ...base, title: '   ', start_at: new Date().toISOString(), end_at: '2099-01-01T00:00:00Z' }]
  ]
  for (const [what, body] of cases) {
    const r = await http.request('POST', '/api/v1/admin/events', { token: admin, body })
    t.equal(r.status, 400, `${what}: 400`)
    t.equal(r.body.code, 'BAD_REQUEST')
  }
  t.equal((await http.request('POST', '/api/v1/admin/products', { token: admin, body: { title: ' \t ', price_cents: 1 } })).status, 400, 'a blank product title: 400')
  const events = await env.db('seckill_events').count({ n: '*' }).first() as { n: number | string }
  t.equal(Number(events.n), 0, 'no event was stored')
  const ok = await http.request('POST', '/api/v1/admin/events', { token: admin, body: { ...base, start_at: new Date().toISOString(), end_at: '2099-12-31T23:59:59Z' } })
  t.equal(ok.status, 201, 'a sale inside the range is taken')
})
