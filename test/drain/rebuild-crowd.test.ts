// A crowd finds its sale gone from Redis: every buy that finds a shard not warm asks for the
// rebuild. One rebuild runs per event per process, under the event's row lock; the other buys
// wait for it instead of each holding a MySQL connection while waiting for the lock (with the
// pool full of waiters, the rebuild itself had no connection left: buys hung for the pool's
// acquire timeout and failed).
import t from 'tap'
import { clearEvent } from '../../src/stock'
import { pool } from '../helpers/sale'
import { buy, setup } from '../helpers/shard-owner'

t.test('sixty buys at once find the sale flushed: one rebuild, every buyer queued', async (t) => {
  const { env, http, eventId } = await setup(t, 100, 2)
  await buy(t, http, env, eventId, 100) // warmed once, so the next warm-up is a rebuild
  await clearEvent(env, { id: eventId, shards: 2 })
  const fenceBefore = (await env.db('seckill_events').first('rebuild_fence').where({ id: eventId }) as { rebuild_fence: number }).rebuild_fence
  const statuses = await pool(Array.from({ length: 60 }, (_, i) => 200 + i), 60, async (u) =>
    (await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) })).status)
  t.same([...new Set(statuses)], [202], 'every buyer is queued')
  const fenceAfter = (await env.db('seckill_events').first('rebuild_fence').where({ id: eventId }) as { rebuild_fence: number }).rebuild_fence
  t.equal(Number(fenceAfter) - Number(fenceBefore), 1, 'by one rebuild')
})
