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
import { auditSale, draw } from '../../src/sale'
import { saleIdle, until } from '../helpers/sale'
import { leadWindowSale } from '../helpers/lead-window'

const ENTRANTS = 20_000

t.test('a randomized start closes no gate while its entrants are being placed', async (t) => {
  const { env, http, eventId, k, closeAndDrain } = await leadWindowSale(t, { entrants: ENTRANTS, units: 1, draw: false })
  // The entrant drawn last (placed last): the seed is in MySQL, the entries in Redis.
  const seed = (await env.db('seckill_events').first('start_seed').where({ id: eventId }) as { start_seed: string }).start_seed
  const userOf = new Map(Object.entries(await env.redis.hgetall(k.entrants)).map(([u, e]) => [e, u]))
  const last = Number(userOf.get(draw(seed, [...userOf.keys()], 0).order[ENTRANTS - 1] as string))

  await closeAndDrain()

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
