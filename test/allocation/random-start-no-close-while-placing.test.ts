/**
 * Regression (review of 2d24280, the stepped placement): once the drain decided positions while
 * the placement ran, the first batch to empty the stock closed the gate and announced the sale
 * sold out with most entrants still unplaced. An ingress then answered an unplaced entrant who
 * asked again from its sold-out memory: lua/confirmSoldOut recorded them as turned away
 * (`rejected`), lua/placeEntrants refused the chunk holding them for ever, and the rest of the
 * entrants were never placed (I3: entries left awaiting the draw; the sale never decided). Found
 * with 20,000 entrants: sold out announced at 5,500 placed, the placement stopped at 19,500.
 *
 * Fixed: the owner closes no gate while its entrants are still to be placed, and closes it (if
 * the sale is empty) once they are. Judged on states: whenever the gate is seen closed, every
 * entrant is placed; the entrant drawn last, asking again throughout, is never turned away.
 */
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { loadConfig } from '../../src/config'
import { admitRandomStart } from '../../src/redis/commands'
import { MAX_ENTRANTS_PER_SHARD } from '../../src/shared/allocation'
import { ticketIdPrefix } from '../../src/shared/ticket-ids'
import { auditSale, draw, newEntryId } from '../../src/sale'
import { testEnv } from '../helpers/env'
import { createSale, pool, saleIdle, startTestService, until } from '../helpers/sale'

const ENTRANTS = 20_000

t.test('a randomized start closes no gate while its entrants are being placed', async (t) => {
  const env = await testEnv(t, { GATE_OVERBOOK: '1' })
  const config = loadConfig({ ...env.env })
  const { http } = await startTestService(env, { ...config, role: 'ingress' })
  const eventId = await createSale(http, env, { stock: 1, startInMs: 600_000, fields: { entry: 'random_at_start', lead_ms: 660_000 } })
  const users = Array.from({ length: ENTRANTS }, (_, i) => 100_001 + i)
  for (let i = 0; i < users.length; i += 5_000) {
    await env.db('users').insert(users.slice(i, i + 5_000).map((id) => ({ id, email: `u${id}@example.com`, password_hash: null, role: 'user' })))
  }
  const first = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(users[0] as number) })
  t.match(first.body.data, { awaiting_draw: true }, 'the first buyer entered')
  const row = await env.db('seckill_events').first(env.db.raw('UNIX_TIMESTAMP(start_at) * 1000 AS start_ms')).where({ id: eventId }) as { start_ms: number | string }
  const startAtMs = Math.round(Number(row.start_ms))
  const ref = { eventId, shard: 0 }
  const k = env.keys.shard(ref)
  const target = { k, q: env.keys.buyQueue(ref), ticketPrefix: ticketIdPrefix(eventId, 0), overbook: 1, rate: { max: 1_000_000, timeWindow: 60_000 }, cluster: false }
  await pool(users.slice(1), 100, async (user) => {
    const reply = await admitRandomStart(env.redis, target, String(user), undefined, { startAtMs, opensAtMs: startAtMs - 660_000 }, newEntryId(), MAX_ENTRANTS_PER_SHARD, false)
    if (reply.code !== 5) throw new Error(`entry of ${user}: code ${reply.code}`)
  })
  // The entrant drawn last (placed last): the seed is in MySQL, the entries in Redis.
  const seed = (await env.db('seckill_events').first('start_seed').where({ id: eventId }) as { start_seed: string }).start_seed
  const userOf = new Map(Object.entries(await env.redis.hgetall(k.entrants)).map(([u, e]) => [e, u]))
  const last = Number(userOf.get(draw(seed, [...userOf.keys()], 0).order[ENTRANTS - 1] as string))

  await env.db('seckill_events').where({ id: eventId }).update({ start_at: env.db.raw('NOW(3) + INTERVAL 1 SECOND') })
  await startTestService(env, { ...config, role: 'worker' })

  let closedEarly = ''
  let turnedAway = ''
  let asked = 0
  const deadline = Date.now() + 120_000
  for (;;) {
    const placed = Number(await env.redis.get(k.startPlaced) ?? 0)
    const closed = await env.redis.exists(k.closed) === 1
    if (closed && placed < ENTRANTS && closedEarly === '') closedEarly = `the gate closed with ${placed} of ${ENTRANTS} placed`
    if (placed < ENTRANTS) {
      const again = (await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(last) })).body.data
      asked++
      if (again?.status === 'sold_out' && turnedAway === '') turnedAway = `answered ${JSON.stringify(again)} with ${placed} placed`
    }
    if (placed === ENTRANTS && await saleIdle(env, eventId, 1)) break
    if (Date.now() > deadline) break
    await sleep(5)
  }
  t.equal(closedEarly, '', 'no gate closed before every entrant was placed')
  t.equal(turnedAway, '', `the entrant drawn last, asking ${asked} times during the placement, was never turned away`)
  t.equal(await env.redis.sismember(k.rejected, String(last)), 0, 'nor recorded as turned away')
  t.equal(Number(await env.redis.get(k.startPlaced) ?? 0), ENTRANTS, 'every entrant placed')
  t.ok(await saleIdle(env, eventId, 1), 'every ticket decided (I3)')
  // Once placed, the empty sale's gate closes and the sale reads sold out.
  await until(async () => await env.redis.exists(k.closed) === 1, 30_000, 'the gate closed after the placement')
  const audit = await auditSale(env.db, env.redis, env.keys, eventId)
  t.ok(audit.ok, `the audit holds: ${JSON.stringify(audit.checks.filter((c) => !c.ok))}`)
})
