import t from 'tap'
import type { Reservation, Written } from '../../workers/drain-batch'
import { fromReservationWire, fromWrittenWire, toReservationWire, toWrittenWire } from '../../workers/stage-wire'

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
