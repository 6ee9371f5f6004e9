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
import { auditSale } from '../../src/sale'
import { saleIdle, until } from '../helpers/sale'
import { leadWindowSale } from '../helpers/lead-window'

const ENTRANTS = 60_000
const UNITS = 5

t.test('a draw\'s winners are decided before its runners-up are all placed', async (t) => {
  const { env, eventId, k, closeAndDrain } = await leadWindowSale(t, { entrants: ENTRANTS, units: UNITS, draw: true })
  t.equal(await env.redis.hlen(k.entrants), ENTRANTS, `${ENTRANTS} entrants`)

  // The close, on MySQL's clock, a second from now; then a worker.
  await closeAndDrain()
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
