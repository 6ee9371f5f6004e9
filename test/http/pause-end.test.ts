// Regression: a sale held by its operator and then ended (early, or by reaching its end) kept the
// tickets in line `queued` for good: the drain read the hold after the end, and an ended sale
// cannot be resumed (409). A hold now ends with the sale, and ending a sale lifts it.
import t from 'tap'
import { auditSale } from '../../src/sale/invariant-audit'
import { testEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'

for (const how of ['ended early', 'reaching its end'] as const) {
  t.test(`held, then ${how}: every ticket in line gets its answer`, async (t) => {
    const env = await testEnv(t, { END_GRACE_MS: '200' })
    const { http } = await startTestService(env)
    const admin = env.token(1, 'admin')
    const eventId = await createSale(http, env, { stock: 2 })
    t.equal((await http.request('POST', `/api/v1/admin/events/${eventId}/pause`, { token: admin })).status, 200, 'held')
    const tickets: Array<{ user: number, id: string }> = []
    for (const user of [101, 102, 103]) {
      const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(user) })
      t.equal(r.status, 202, `buyer ${user} queued while held`)
      tickets.push({ user, id: String(r.body.data.ticket_id) })
    }
    if (how === 'ended early') {
      t.equal((await http.request('POST', `/api/v1/admin/events/${eventId}/end`, { token: admin })).status, 200, 'ended early')
    } else {
      await env.db('seckill_events').where({ id: eventId }).update({ end_at: env.db.raw('CURRENT_TIMESTAMP(3)') })
    }
    const statuses = async (): Promise<string[]> => await Promise.all(tickets.map(async (x) =>
      String((await http.request('GET', `/api/v1/tickets/${x.id}?wait=1000`, { token: env.token(x.user) })).body.data.status)))
    await until(async () => (await statuses()).every((s) => s !== 'queued'), 20_000, 'every ticket to be decided')
    t.same((await statuses()).sort(), ['sold_out', 'won', 'won'], 'two win the two units, the third is told sold out')
    const i3 = (await auditSale(env.db, env.redis, env.keys, eventId)).checks.find((c) => c.id === 'I3')
    t.ok(i3?.ok, `I3: ${i3?.detail ?? ''}`)
  })
}
