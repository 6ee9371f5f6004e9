import t from 'tap'
import type { DrainBatchResult, Reservation, Written } from '../../workers/drain-batch'
import { LEASE_LOST } from '../../workers/drain-batch'
import { OUTCOME_STATUSES, countOutcomes, fromReservationWire, fromWrittenWire, toFinishedWire, toReservationWire, toWrittenWire } from '../../workers/thread-protocol'

t.test('a reservation crosses threads as columns and reads back the same', async (t) => {
  const r: Reservation = {
    leaseLost: false,
    tickets: [{ qpos: 7, userId: '101' }, { qpos: 8, userId: '102' }, { qpos: 9, userId: '103' }, { qpos: 10, userId: '104' }],
    // Own unit reserved now, a unit borrowed from shard 3 before (a replay), none, a skipped ticket.
    holding: [[7, { shard: 0, local: true, fresh: true }], [8, { shard: 3, local: false, fresh: false }]],
    skipped: [10],
    siblingsFree: [[3, 4]],
    reserveMs: 2.5,
    replay: true
  }
  const back = fromReservationWire(structuredClone(toReservationWire(r)))
  t.same(back.tickets, r.tickets)
  t.same(new Map(back.holding), new Map(r.holding), 'every holding, by position')
  t.same({ ...back, tickets: [], holding: [] }, { ...r, tickets: [], holding: [] }, 'the rest as it was')
  t.equal(back.replay, true)
  t.notOk('replay' in fromReservationWire(toReservationWire({ ...r, replay: undefined })), 'no replay flag made up')
})

t.test('a write result crosses threads as columns and reads back the same', async (t) => {
  const w: Written = {
    leaseLost: false,
    writeMs: 12.5,
    results: [
      [7, { kind: 'won', orderId: '900001' }],
      [8, { kind: 'won', orderId: '800123', existing: true, heldAt: 3 }],
      [9, { kind: 'won', orderId: '800124', existing: true }],
      [10, { kind: 'failed', reason: 'already_ordered' }]
    ]
  }
  t.same(fromWrittenWire(structuredClone(toWrittenWire(w))), w)
  t.same(fromWrittenWire(toWrittenWire({ leaseLost: true, results: [], writeMs: 0 })), { leaseLost: true, results: [], writeMs: 0 })
})

t.test('a finished batch reaches the main thread with its outcomes as columns', async (t) => {
  const r: DrainBatchResult = {
    leaseLost: false,
    outcomes: [
      { qpos: 7, status: 'won', orderId: '900001' },
      { qpos: 8, status: 'sold_out' },
      { qpos: 9, status: 'failed', reason: 'already_ordered' },
      { qpos: 10, status: 'skipped' },
      { qpos: 11, status: 'won', orderId: '900002' }
    ],
    stock: 3,
    pending: 2,
    siblingsFree: [[1, 5]],
    reserveMs: 1,
    writeMs: 2,
    finishMs: 3
  }
  const wire = structuredClone(toFinishedWire(r))
  const { outcomes, ...rest } = r
  t.same({ ...wire, outcomes: undefined }, { ...rest, outcomes: undefined }, 'every other field as it was')
  t.same(Array.from(wire.outcomes.qpos), [7, 8, 9, 10, 11], 'positions in ticket order')
  t.same(Array.from(wire.outcomes.status, (s) => OUTCOME_STATUSES[s]), outcomes.map((o) => o.status), 'each status')
  t.same(wire.outcomes.detail, ['900001', '', 'already_ordered', '', '900002'], 'order ids and reasons')
  t.same(countOutcomes(wire.outcomes), { won: 2, sold_out: 1, failed: 1, skipped: 1 })
  const lost = toFinishedWire(LEASE_LOST)
  t.equal(lost.leaseLost, true)
  t.same(countOutcomes(lost.outcomes), { won: 0, sold_out: 0, failed: 0, skipped: 0 }, 'a lost lease decided nothing')
})
