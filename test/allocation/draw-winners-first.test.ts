/**
 * A draw's winners are decided while its runners-up are still being placed (issue 34: a draw of a
 * million entries decides its winners within 10 s of the close). The owner places the drawn order
 * first to last, a step at a time (src/sale/allocation/start-placement.ts), and between steps the
 * drain decides the positions placed so far; before, every entrant was placed before the first
 * job was taken, so a million entrants' winners waited about 30 s of placement.
 *
 * Judged on states, not durations: the moment the winners' orders are all in MySQL, the placement
 * must not be complete. With 60,000 entrants the placement is 120 chunks, while the first batch
 * lands after at most a pipeline's worth of 50 ms steps. Then the sale settles and the audit holds.
 */
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { loadConfig } from '../../src/config'
import { admitRandomStart } from '../../src/redis/commands'
import { MAX_ENTRANTS_PER_SHARD } from '../../src/shared/allocation'
import { ticketIdPrefix } from '../../src/shared/ticket-ids'
import { auditSale, newEntryId } from '../../src/sale'
import { testEnv } from '../helpers/env'
import { createSale, pool, saleIdle, startTestService, until } from '../helpers/sale'

const ENTRANTS = 60_000
const UNITS = 5

t.test('a draw\'s winners are decided before its runners-up are all placed', async (t) => {
  const env = await testEnv(t, { GATE_OVERBOOK: '1' })
  const config = loadConfig({ ...env.env })
  const { http } = await startTestService(env, { ...config, role: 'ingress' })
  const eventId = await createSale(http, env, { stock: UNITS, startInMs: 600_000, fields: { mode: 'draw', lead_ms: 660_000 } })
  const users = Array.from({ length: ENTRANTS }, (_, i) => 100_001 + i)
  for (let i = 0; i < users.length; i += 5_000) {
    await env.db('users').insert(users.slice(i, i + 5_000).map((id) => ({ id, email: `u${id}@example.com`, password_hash: null, role: 'user' })))
  }
  // The first entry through HTTP (it warms the shard, as a real sale's first buy does), the rest
  // through the admission script itself, as the ingress calls it (a quicker way to 60,000 entries).
  const first = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(users[0] as number) })
  t.match(first.body.data, { awaiting_draw: true }, 'the first buyer entered')
  const row = await env.db('seckill_events').first(env.db.raw('UNIX_TIMESTAMP(start_at) * 1000 AS start_ms')).where({ id: eventId }) as { start_ms: number | string }
  const startAtMs = Math.round(Number(row.start_ms))
  const ref = { eventId, shard: 0 }
  const k = env.keys.shard(ref)
  const target = { k, q: env.keys.buyQueue(ref), ticketPrefix: ticketIdPrefix(eventId, 0), overbook: 1, rate: { max: 1_000_000, timeWindow: 60_000 }, cluster: false }
  await pool(users.slice(1), 200, async (user) => {
    const reply = await admitRandomStart(env.redis, target, String(user), undefined, { startAtMs, opensAtMs: startAtMs - 660_000 }, newEntryId(), MAX_ENTRANTS_PER_SHARD, true)
    if (reply.code !== 5) throw new Error(`entry of ${user}: code ${reply.code}`)
  })
  t.equal(await env.redis.hlen(k.entrants), ENTRANTS, `${ENTRANTS} entrants`)

  // The close, on MySQL's clock, a second from now; then a worker.
  await env.db('seckill_events').where({ id: eventId }).update({ start_at: env.db.raw('NOW(3) + INTERVAL 1 SECOND') })
  await startTestService(env, { ...config, role: 'worker' })
  const orders = async (): Promise<number> => Number((await env.db('orders').count({ n: '*' }).where({ event_id: eventId }).first() as { n: number | string }).n)
  let placedThen = -1
  const deadline = Date.now() + 120_000
  while (Date.now() < deadline) {
    const placed = Number(await env.redis.get(k.startPlaced) ?? 0)
    if (await orders() >= UNITS) {
      placedThen = placed
      break
    }
    await sleep(5)
  }
  t.ok(placedThen >= UNITS, `every winner's order is in MySQL (${UNITS}); ${placedThen} of ${ENTRANTS} entrants were placed when the last one was read`)
  t.ok(placedThen < ENTRANTS, 'the runners-up were still being placed: the winners did not wait for the whole placement')

  await until(async () => Number(await env.redis.get(k.startPlaced) ?? 0) === ENTRANTS && await saleIdle(env, eventId, 1), 300_000, 'every entrant placed and decided')
  t.equal(await orders(), UNITS, 'exactly the stock was sold')
  const audit = await auditSale(env.db, env.redis, env.keys, eventId)
  t.ok(audit.ok, `the audit holds: ${JSON.stringify(audit.checks.filter((c) => !c.ok))}`)
})
