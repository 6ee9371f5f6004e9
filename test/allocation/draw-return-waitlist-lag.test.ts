/**
 * Regression (review of 96f30b5; the defect is older): a draw's unit that came back went to the
 * drain's next position, a runner-up drawn thousands of places behind the first one, whenever the
 * waitlist's index lagged the decided tickets by more than one look (lua/includes/waitlist.lua
 * indexWaitlist: MAX_LOOK, 2,000 positions). lua/serveWaitlist put the unit in the stock anyway
 * and answered `waiting`; the drain's next batch (lua/reserveStock) took it. The cursor moves only
 * with waitlist scripts (a runner-up's poll), not with the drain, so a big draw whose runners-up
 * do not poll lags by as much as it has decided. 100,000 entrants, a cancel at 4,600 decided: the
 * unit went to position 4,601 while the first runner-up (position 6) waited; the audit's I7 broke.
 *
 * Fixed: lua/serveWaitlist applies nothing before the waitlist has indexed every decided ticket
 * (code 2, NOT_INDEXED), and the return applier calls it again until it has. Nobody polls here.
 */
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { auditSale } from '../../src/sale'
import { saleIdle } from '../helpers/sale'
import { leadWindowSale } from '../helpers/lead-window'

const ENTRANTS = 20_000
const BATCH = 200
const UNITS = 5
/** The cancel is sent once this many positions are decided (past indexWaitlist's 2,000 a look). */
const CANCEL_AT = 4_000

t.test('a draw: a unit that comes back while the waitlist lags the decided tickets goes to the first runner-up', async (t) => {
  const { env, http, eventId, ref, k, closeAndDrain } = await leadWindowSale(t, { entrants: ENTRANTS, units: UNITS, draw: true, env: { DRAIN_BATCH: String(BATCH) } })
  const wl = env.keys.waitlist(ref)
  await closeAndDrain()

  const num = async (key: string): Promise<number> => Number(await env.redis.get(key) ?? 0)
  let order: { id: number, user_id: number, ticket_id: string } | undefined
  for (let i = 0; i < 40_000; i++) {
    if (order === undefined) order = await env.db('orders').first('id', 'user_id', 'ticket_id').where({ event_id: eventId }).orderBy('id') as typeof order
    if (order !== undefined && await num(k.drained) >= CANCEL_AT) break
    await sleep(2)
  }
  if (order === undefined) throw new Error('no order')
  const cancel = await http.request('POST', `/api/v1/orders/${order.id}/cancel`, { token: env.token(order.user_id) })
  const seal = (await env.redis.get(k.startSeal) ?? '0:0').split(':').map(Number) as [number, number]
  const atCancel = { placed: await num(k.startPlaced), drained: await num(k.drained), cursor: await num(wl.cursor) }
  t.comment(`order ${order.id} (${order.ticket_id}) cancelled: HTTP ${cancel.status}; placed ${atCancel.placed} of ${ENTRANTS}, drained ${atCancel.drained}, waitlist cursor ${atCancel.cursor}, seal ${seal.join(':')}`)
  t.ok(atCancel.drained >= CANCEL_AT, `the unit came back with ${atCancel.drained} positions decided, more than one look of the waitlist (2,000)`)

  let applied: { placed: number, drained: number, cursor: number } | undefined
  const deadline = Date.now() + 180_000
  for (;;) {
    const ret = await env.db('unit_returns').first('applied_at').where({ event_id: eventId }) as { applied_at: Date | null } | undefined
    if (ret !== undefined && ret.applied_at !== null && applied === undefined) applied = { placed: await num(k.startPlaced), drained: await num(k.drained), cursor: await num(wl.cursor) }
    if (applied !== undefined && await num(k.startPlaced) === ENTRANTS && await saleIdle(env, eventId, 1)) break
    if (Date.now() > deadline) break
    await sleep(5)
  }
  t.comment(`return applied when placed ${applied?.placed ?? '?'}, drained ${applied?.drained ?? '?'}, waitlist cursor ${applied?.cursor ?? '?'}`)
  const orders = await env.db('orders').select('ticket_id', 'user_id', 'status').where({ event_id: eventId }).orderBy('id') as Array<{ ticket_id: string, user_id: number, status: string }>
  t.comment(`orders: ${orders.map((o) => `${o.ticket_id}:${o.status}`).join(', ')}`)
  const served = await env.redis.lrange(wl.served, 0, -1)
  t.comment(`waitlist served: ${JSON.stringify(served)}; epochs ${JSON.stringify(await env.redis.lrange(k.epochs, 0, -1))}`)
  const [base] = seal
  const firstRunnerUp = base + UNITS + 1
  const tickets = await env.redis.hmget(k.tickets, String(firstRunnerUp))
  t.comment(`first runner-up (position ${firstRunnerUp}): ${tickets[0] ?? 'none'}; waitlist head ${JSON.stringify(await env.redis.zrange(wl.list, 0, 0, 'WITHSCORES'))}`)
  const pos = (id: string): number => Number(id.split('-').pop())
  const rewon = orders.filter((o) => o.status !== 'cancelled' && pos(o.ticket_id) > base + UNITS)
  t.equal(rewon.length, 1, 'the returned unit was won again')
  const winner = rewon[0]
  if (winner !== undefined) {
    const p = pos(winner.ticket_id)
    const fromWaitlist = served.some((s) => s.endsWith(`:${p}`))
    t.comment(`the returned unit went to ${winner.ticket_id} (user ${winner.user_id}), ${fromWaitlist ? 'served from the waitlist' : `a line position, drawn ${p - base} of ${ENTRANTS}`}`)
    t.ok(fromWaitlist, 'the returned unit went to a runner-up served from the waitlist, not to a later line position')
    t.equal(served[0]?.split(':')[0], String(firstRunnerUp - 0.5), `served: the first runner-up (drawn ${firstRunnerUp - base}, waitlist key ${firstRunnerUp - 0.5})`)
  }
  const audit = await auditSale(env.db, env.redis, env.keys, eventId)
  t.comment(`audit: ${JSON.stringify(audit.checks.map((c) => `${c.id}:${c.ok ? 'ok' : c.detail}`))}`)
  t.ok(audit.ok, 'the audit holds')
})
