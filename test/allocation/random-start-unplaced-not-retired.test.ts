/**
 * Regression (review of 0c36ede, randomized start, F3): a sale whose lead-window entrants were never sealed reads
 * as fully decided (lua-free check eventDecided: pending 0, qseq == drained), so a worker that
 * comes back after the end grace retires it without placing anyone. The entrants stay
 * `awaiting_draw` (then `failed` once the keys expire) and the stock stays unsold although they
 * asked for it (I3, I5). First come first served keeps such a sale owned until its queued tickets
 * are decided (qseq > drained); the entrants hold no position before the seal, so nothing holds
 * the sale open for them.
 *
 * Interleaving: entrants enter in the lead window; no worker runs from before the start until past
 * end_at + END_GRACE_MS (a deploy, an outage; END_GRACE_MS=0 here to keep the test short); then a
 * worker starts. Fixed: eventDecided counts a shard with entrants not yet all placed as undecided,
 * so the dispatcher keeps the sale live and its owner seals (MySQL's start is past) and places.
 */
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'
import { eventDecided } from '../../src/stock'

t.test('a worker back after the end retires a sale whose entrants were never placed', async (t) => {
  const env = await testEnv(t, { GATE_OVERBOOK: '10', END_GRACE_MS: '0' })
  const config = loadConfig({ ...env.env })
  const { http } = await startTestService(env, { ...config, role: 'ingress' })
  const eventId = await createSale(http, env, { stock: 2, startInMs: 3000, durationMs: 2000, fields: { entry: 'random_at_start' } })
  const entered: Array<[number, string]> = []
  for (const u of [101, 102, 103]) {
    const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) })
    t.match(r.body.data, { awaiting_draw: true }, `buyer ${u} entered the lead window`)
    entered.push([u, r.body.data.ticket_id])
  }
  // No worker until the sale is over (on MySQL's clock).
  for (;;) {
    const row = await env.db('seckill_events').first(env.db.raw('end_at < CURRENT_TIMESTAMP(3) AS ended')).where({ id: eventId }) as { ended: number }
    if (Number(row.ended) === 1) break
    await sleep(200)
  }
  t.equal(await eventDecided({ redis: env.redis, keys: env.keys }, { id: eventId, shards: 1 }), false,
    'a sale with entrants not yet placed is not "decided"')

  await startTestService(env, { ...config, role: 'worker' })
  // The worker's rounds: discovery, the lease, the placement, a batch. Waited for as a state; if
  // the sale were retired with its entrants unplaced it never comes, and the checks below fail.
  await until(async () => {
    for (const [u, id] of entered) {
      if ((await http.request('GET', `/api/v1/tickets/${id}`, { token: env.token(u) })).body.data?.awaiting_draw === true) return false
    }
    return Number((await env.db('seckill_events').first('sold').where({ id: eventId }) as { sold: number }).sold) === 2
  }, 30_000, 'every entrant placed and decided').catch(() => undefined)
  const k = env.keys.shard({ eventId, shard: 0 })
  t.comment(`after the worker's rounds: seal ${String(await env.redis.get(k.startSeal))}, stock key ttl ${await env.redis.ttl(k.stock)} s (a retired sale's keys expire)`)
  for (const [u, id] of entered) {
    const r = await http.request('GET', `/api/v1/tickets/${id}`, { token: env.token(u) })
    t.not(r.body.data?.awaiting_draw, true, `buyer ${u}'s entry reached a final state once the workers are idle (I3): ${JSON.stringify(r.body.data)}`)
  }
  const sold = (await env.db('seckill_events').first('sold').where({ id: eventId }) as { sold: number }).sold
  t.equal(sold, 2, `three entrants asked for two units: both sold (I5); sold ${sold}`)
})
