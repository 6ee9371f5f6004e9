// Units that come back (stock-ownership rule). Each test drives one shard by hand, the way the
// drainer does -- reserve, write and finish stages under a fenced lease, returns applied between
// batches -- against the real scripts, Redis and MariaDB, and judges the sale with the audit.
// Regressions of interleavings found in review:
//   - a unit returned while a batch was between reserve and finish: the epoch boundary was put
//     below the batch, its loser fell in the new epoch (I4: position 3 lost while 4 won);
//   - a crash after the order commit, a cancel during the takeover, the replay: the replay
//     reserved a second unit and `pending` went to -1 (I3, I6; the event never retired);
//   - a winner found already_ordered gave its unit back with no new epoch (I4: 2 lost, 3 won).
import t from 'tap'
import { loadConfig } from '../../src/config'
import { acquireLease } from '../../src/domain/shard-lease'
import type { Lease } from '../../src/domain/shard-lease'
import { clearEvent, warmEvent } from '../../src/domain/sale-state'
import { finishBatch, reserveBatch, writeBatch } from '../../workers/drain-batch'
import type { DrainBatchInput, DrainBatchResult, DrainDeps, Reservation, Written } from '../../workers/drain-batch'
import { applyDueReturns } from '../../workers/return-applier'
import type { AppliedReturns } from '../../workers/return-applier'
import { auditSale } from '../../src/audit/sale-audit'
import { reconcileEvent } from '../../src/domain/reconciler'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, startTestService } from '../helpers/sale'
import type { Http } from '../helpers/sale'
import type { Test } from '../helpers/tap-types'

interface Owner {
  readonly lease: Lease
  reserve: (positions: number[]) => Promise<Reservation>
  write: (positions: number[], r: Reservation) => Promise<Written>
  finish: (positions: number[], r: Reservation, w: Written) => Promise<DrainBatchResult>
  batch: (positions: number[]) => Promise<DrainBatchResult>
  applyReturns: () => Promise<AppliedReturns>
}

async function takeShard (env: TestEnv, eventId: number, name: string): Promise<Owner> {
  const ref = { eventId, shard: 0 }
  const k = env.keys.shard(ref)
  await env.redis.del(k.lease) // the previous owner's lease ran out
  const lease = await acquireLease(env.redis, env.db, k, ref, name, 600_000)
  if (lease === undefined) throw new Error('lease not taken')
  const deps: DrainDeps = { redis: env.redis, db: env.db, keys: env.keys, orderWrites: { paymentTimeoutMs: 600_000, consecutiveIds: true } }
  const input = (positions: number[]): DrainBatchInput => ({ eventId, shard: 0, shards: 1, leaseToken: lease.token, fence: lease.fence, positions, rate: 0 })
  const owner: Owner = {
    lease,
    reserve: async (p) => await reserveBatch(deps, input(p)),
    write: async (p, r) => await writeBatch(deps, input(p), r),
    finish: async (p, r, w) => await finishBatch(deps, input(p), r, w),
    batch: async (p) => {
      const r = await owner.reserve(p)
      return await owner.finish(p, r, await owner.write(p, r))
    },
    applyReturns: async () => await applyDueReturns(env, ref, 1, lease.token)
  }
  return owner
}

async function buy (t: Test, http: Http, env: TestEnv, eventId: number, user: number): Promise<number> {
  const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(user) })
  t.equal(r.status, 202, `buyer ${user} is queued`)
  return Number(String(r.body.data.ticket_id).split('-')[2])
}

async function expectAudit (t: Test, env: TestEnv, eventId: number): Promise<void> {
  const audit = await auditSale(env.db, env.redis, env.keys, eventId)
  for (const c of audit.checks) t.ok(c.ok, `${c.id}: ${c.detail}`)
}

async function setup (t: Test, stock: number): Promise<{ env: TestEnv, http: Http, eventId: number, service: Awaited<ReturnType<typeof startTestService>>['service'] }> {
  // Ingress only: the test is the drain. A wide gate, so later buyers queue behind the first.
  const env = await testEnv(t, { GATE_OVERBOOK: '10' })
  const { http, service } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(http, env, { stock })
  return { env, http, eventId, service }
}

const orderOf = async (env: TestEnv, ticketId: string): Promise<string> =>
  String((await env.db('orders').first('id').where({ ticket_id: ticketId }) as { id: number }).id)

t.test('a unit returned while a batch is between reserve and finish waits for that batch; the next buyer wins it', async (t) => {
  const { env, http, eventId } = await setup(t, 1)
  const [a, b, c, d] = [await buy(t, http, env, eventId, 501), await buy(t, http, env, eventId, 502), await buy(t, http, env, eventId, 503), await buy(t, http, env, eventId, 504)]
  const owner = await takeShard(env, eventId, 'w1')
  t.same((await owner.batch([a, b])).outcomes.map((o) => o.status), ['won', 'sold_out'])

  // Batch [c] reserves (nothing left) and is in flight when the winner cancels.
  const reservation = await owner.reserve([c])
  const orderId = await orderOf(env, `${eventId}-0-${a}`)
  const cancel = await http.request('POST', `/api/v1/orders/${orderId}/cancel`, { token: env.token(501) })
  t.equal(cancel.status, 200, 'the winner cancels')
  t.equal(await env.redis.get(env.keys.shard({ eventId, shard: 0 }).stock), '0', 'the unit is not put back behind the batch in flight')

  t.same((await owner.finish([c], reservation, await owner.write([c], reservation))).outcomes.map((o) => o.status), ['sold_out'], 'the batch in flight decides from its reservation')
  t.match(await owner.applyReturns(), { returned: 1, waiting: 0 }, 'between batches the owner puts the unit back')
  t.same((await owner.batch([d])).outcomes.map((o) => o.status), ['won'], 'and the next buyer in line wins it')
  await expectAudit(t, env, eventId)
})

t.test('a crash after the order commit, a cancel during the takeover, the replay: one unit, pending never negative', async (t) => {
  const { env, http, eventId } = await setup(t, 1)
  const [a, b] = [await buy(t, http, env, eventId, 601), await buy(t, http, env, eventId, 602)]
  const first = await takeShard(env, eventId, 'w1')
  const reservation = await first.reserve([a, b])
  await first.write([a, b], reservation) // ... and the worker dies before writing outcomes

  // The buyer sees the order and cancels it while the shard changes hands.
  const orderId = await orderOf(env, `${eventId}-0-${a}`)
  t.equal((await http.request('POST', `/api/v1/orders/${orderId}/cancel`, { token: env.token(601) })).status, 200)
  const heir = await takeShard(env, eventId, 'w2')
  t.match(await heir.applyReturns(), { returned: 0, waiting: 1 }, 'the return waits: its ticket is still undecided')

  const replay = await heir.batch([a, b])
  t.same(replay.outcomes.map((o) => o.status), ['won', 'sold_out'], 'the replay finds the unit still reserved and the order written')
  t.equal(replay.pending, 0, 'pending stays 0')
  t.match(await heir.applyReturns(), { returned: 1, waiting: 0 }, 'then the unit comes back, once')
  t.match(await heir.applyReturns(), { returned: 0, waiting: 0 }, 'and only once')

  const c = await buy(t, http, env, eventId, 603)
  t.same((await heir.batch([c])).outcomes.map((o) => o.status), ['won'], 'a new buyer wins the returned unit')
  await expectAudit(t, env, eventId)
})

t.test('a winner found already_ordered (its order survived a Redis loss): its unit comes back in a new epoch and is sold', async (t) => {
  const { env, http, eventId, service } = await setup(t, 2)
  const owner = await takeShard(env, eventId, 'w1')
  const a = await buy(t, http, env, eventId, 701)
  t.same((await owner.batch([a])).outcomes.map((o) => o.status), ['won'])

  // Redis loses the sale; it is rebuilt from MySQL (1 unit left), and the winner buys again.
  await clearEvent(env, { id: eventId, shards: 1 })
  const event = await service.runtime.events.findById(eventId)
  if (event === undefined) throw new Error('event gone')
  await warmEvent(env, event, service.runtime.events)
  const heir = await takeShard(env, eventId, 'w2')
  const again = await buy(t, http, env, eventId, 701)
  const b = await buy(t, http, env, eventId, 702)
  const c = await buy(t, http, env, eventId, 703)
  const batch = await heir.batch([again, b])
  t.same(batch.outcomes.map((o) => o.status), ['failed', 'sold_out'], 'the winner is refused a second order; the buyer behind finds nothing left')
  t.match(await heir.applyReturns(), { returned: 1 }, 'its unit comes back between batches')
  t.same((await heir.batch([c])).outcomes.map((o) => o.status), ['won'], 'and the next buyer wins it')
  t.equal((await env.db('seckill_events').first('sold').where({ id: eventId }) as { sold: number }).sold, 2, 'the whole stock sold')
  await expectAudit(t, env, eventId)
})

t.test('a cancel that commits while the reconciler repairs: its unit comes back once, through the owner; no phantom unit', async (t) => {
  const { env, http, eventId, service } = await setup(t, 2)
  const [a, b] = [await buy(t, http, env, eventId, 801), await buy(t, http, env, eventId, 802)]
  const owner = await takeShard(env, eventId, 'w1')
  t.same((await owner.batch([a, b])).outcomes.map((o) => o.status), ['won', 'won'], 'the stock is sold')
  await env.redis.del(env.keys.shard({ eventId, shard: 0 }).lease) // the owner dies; the reconciler runs

  // The cancel commits after the reconciler read the orders (it saw the order live) and before it
  // reads `sold` (it sees one unit fewer sold).
  const orderId = await orderOf(env, `${eventId}-0-${a}`)
  const events = service.runtime.events
  let readOrders = false
  let cancelled = false
  const racing: typeof events = {
    ...events,
    orderTickets: async (id) => { const r = await events.orderTickets(id); readOrders = true; return r },
    findById: async (id) => {
      if (readOrders && !cancelled) {
        cancelled = true
        t.equal((await http.request('POST', `/api/v1/orders/${orderId}/cancel`, { token: env.token(801) })).status, 200, 'the winner cancels mid-repair')
      }
      return await events.findById(id)
    }
  }
  const event = await events.findById(eventId)
  if (event === undefined) throw new Error('event gone')
  const report = await reconcileEvent({ ...env, events: racing }, event)
  t.ok(cancelled && report.atRest, 'the cancel ran between the reconciler\'s reads')
  t.equal(report.stockAdjusted, 0, 'the reconciler does not count the cancelled unit free: it is still held, its return not yet applied')

  const heir = await takeShard(env, eventId, 'w2')
  t.match(await heir.applyReturns(), { returned: 1 }, 'the owner applies the return')
  t.equal(await env.redis.get(env.keys.shard({ eventId, shard: 0 }).stock), '1', 'one unit is free, not two')
  const [c, d] = [await buy(t, http, env, eventId, 803), await buy(t, http, env, eventId, 804)]
  t.same((await heir.batch([c, d])).outcomes.map((o) => o.status), ['won', 'sold_out'], 'the next buyer wins it, the one after finds nothing')
  await expectAudit(t, env, eventId)
})
