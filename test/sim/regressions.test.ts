// Seeds of the simulation that once broke an invariant, replayed on every run (the interleaving
// each one found is named beside it; the fix is in the commit that names the seed).
import t from 'tap'
import { simulate } from './harness'

/** Found before the scheduler drew edits before the start and requests racing a repair. */
const FOUND: ReadonlyArray<readonly [number, string]> = [
  [104, 'I4: a replayed position won a unit that came back, in the epoch of an earlier loser'],
  [238, 'I2: a replayed ticket that had won read sold_out after its lender lost its state'],
  [463, 'I7: a local sold-out answer not yet written let a retry in with a new ticket'],
  [976, 'I5/I6: a unit lent to a ticket of a lost shard stayed reserved'],
  [1137, 'I5/I6: the same, another interleaving'],
  [1293, 'I5/I6: the same, two units'],
  [2606, 'I5/I6: a replay took its own stock while holding a borrowed unit'],
  [2777, 'I5/I6: the same'],
  [3046, 'I5/I6: the same'],
  [4165, 'I5/I6: the same'],
  [5545, 'I4: a replay cut anew began before the original batch; the epoch a borrow started moved down under a loser (lender rebuilt meanwhile)']
]

/** Found with them (the extended model). */
const FOUND_EXTENDED: ReadonlyArray<readonly [number, string]> = [
  [110, 'I6: a cancel committed while a rebuild read MySQL; its unit was counted in `sold` and again as held by a surviving shard'],
  [130, 'I6: the same'],
  [156, 'I5/I6: the same, a unit never sold'],
  [238, 'I5/I6: an order expired; its lender lost its state; the replay reserved a new unit for the ticket and kept it'],
  [242, 'I6: a cancel during a rebuild, as 110'],
  [269, 'I5/I6: an expiry during a rebuild'],
  [159, 'I6: a cancel committed while the reconciler repaired (it counted free units as stock − sold)'],
  [20036, 'I5/I6: an owner stalled inside its reserve stage; after the takeover and a return it woke and borrowed the returned unit for a ticket already decided'],
  [20044, 'I5/I6: the same'],
  [30598, 'I5/I6: a replay found a unit an earlier run (cut short by a takeover) had reserved in its own shard after the order was written with a unit borrowed elsewhere; it kept it']
]

/** Found with joint writes in the model (their interleavings need its third source). */
const FOUND_JOINT: ReadonlyArray<readonly [number, string]> = [
  [31867, 'I4: a run cut short had put an epoch boundary after a position it left undecided; replayed, that position won a returned unit in the epoch where the one before had lost']
]

/** Found with every writer in the model (test/sim/writers.ts: ingresses, racing rebuilds, stalled reconcilers). */
const FOUND_WRITERS: ReadonlyArray<readonly [number, string]> = [
  [552, 'I5/I6: a reconciler repaired from a row read before an admin\'s edit (stock 3 where MySQL had 5)'],
  [1613, 'I6: the same, stock 4 on 1 shard after an edit to 3 on 2: units added, winners failed stock_mismatch'],
  [1659, 'I6: the same']
]

t.test('seeds that once broke an invariant keep every invariant', async (t) => {
  const results = await simulate(FOUND.map(([seed]) => seed), undefined, { extended: false })
  results.forEach((r, i) => t.same(r.problems, [], `seed ${r.seed} (${FOUND[i]?.[1] ?? ''})`))
  const extended = await simulate(FOUND_EXTENDED.map(([seed]) => seed), undefined, { extended: true })
  extended.forEach((r, i) => t.same(r.problems, [], `seed ${r.seed}, extended (${FOUND_EXTENDED[i]?.[1] ?? ''})`))
  const joint = await simulate(FOUND_JOINT.map(([seed]) => seed), undefined, { extended: true, joint: true })
  joint.forEach((r, i) => t.same(r.problems, [], `seed ${r.seed}, joint writes (${FOUND_JOINT[i]?.[1] ?? ''})`))
  const writers = await simulate(FOUND_WRITERS.map(([seed]) => seed), undefined, { extended: true, joint: true, writers: true })
  writers.forEach((r, i) => t.same(r.problems, [], `seed ${r.seed}, every writer (${FOUND_WRITERS[i]?.[1] ?? ''})`))
})
