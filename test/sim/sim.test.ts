// The deterministic simulation (simulation.ts) over a bounded slice of seeds; `npm run sim --
// --seeds N` runs more. A failing seed is named; `npm run sim -- --seed <n>` replays it.
import t from 'tap'
import { simulate } from './harness'

const SEEDS = 200

t.test(`deterministic simulation: ${SEEDS} seeds of admissions, pipelined batches, crashes, stalled owners, pay, cancel and expiry, Redis loss, reconciler runs, requests racing a repair, edits before the start`, async (t) => {
  const results = await simulate(Array.from({ length: SEEDS }, (_, i) => i + 1))
  for (const r of results) {
    if (r.problems.length > 0) t.fail(`seed ${r.seed}: ${r.problems.join('; ')}`)
  }
  t.equal(results.filter((r) => r.problems.length === 0).length, SEEDS, 'every seed keeps every invariant')
  const returned = results.reduce((a, r) => a + (r.counts['unit returned'] ?? 0), 0)
  const stale = results.reduce((a, r) => a + (r.counts['stale write refused'] ?? 0) + (r.counts['stale finish refused'] ?? 0) + (r.counts['stale reserve refused'] ?? 0), 0)
  t.ok(returned > 0 && stale > 0, `the runs exercised returns (${returned} units came back) and stale owners (${stale} stale stages refused)`)
})

const WRITER_SEEDS = 50

t.test(`deterministic simulation with every writer: ${WRITER_SEEDS} seeds with two ingresses and their memory, racing rebuilds, reconcilers stalling past their leases, skewed clocks`, async (t) => {
  const results = await simulate(Array.from({ length: WRITER_SEEDS }, (_, i) => i + 1), undefined, { extended: true, joint: true, writers: true })
  for (const r of results) {
    if (r.problems.length > 0) t.fail(`seed ${r.seed}: ${r.problems.join('; ')}`)
  }
  t.equal(results.filter((r) => r.problems.length === 0).length, WRITER_SEEDS, 'every seed keeps every invariant')
})

const WAITLIST_SEEDS = 50

t.test(`deterministic simulation of a sale with a waitlist: ${WAITLIST_SEEDS} seeds with every writer, returns served in waitlist order, buyers leaving it`, async (t) => {
  const results = await simulate(Array.from({ length: WAITLIST_SEEDS }, (_, i) => i + 1), undefined, { extended: true, joint: true, writers: true, waitlist: true })
  for (const r of results) {
    if (r.problems.length > 0) t.fail(`seed ${r.seed}: ${r.problems.join('; ')}`)
  }
  t.equal(results.filter((r) => r.problems.length === 0).length, WAITLIST_SEEDS, 'every seed keeps every invariant, I7 of the waitlist too')
  const left = results.reduce((a, r) => a + (r.counts['leave waitlist'] ?? 0), 0)
  const returned = results.reduce((a, r) => a + (r.counts['unit returned'] ?? 0), 0)
  t.ok(left > 0 && returned > 0, `the runs exercised buyers leaving (${left}) and returns (${returned})`)
})

const RANDOM_START_SEEDS = 20

t.test(`deterministic simulation of a randomized start: ${RANDOM_START_SEEDS} seeds of entries in the lead window, placements in chunks by owners that crash, stall and wake, buys during the placement, Redis loss`, async (t) => {
  const results = await simulate(Array.from({ length: RANDOM_START_SEEDS }, (_, i) => i + 1), undefined, { extended: true, joint: true, randomStart: true })
  for (const r of results) {
    if (r.problems.length > 0) t.fail(`seed ${r.seed}: ${r.problems.join('; ')}`)
  }
  t.equal(results.filter((r) => r.problems.length === 0).length, RANDOM_START_SEEDS, 'every seed keeps every invariant, I4R of the placement too')
  const chunks = results.reduce((a, r) => a + (r.counts['place chunk'] ?? 0), 0)
  const refused = results.reduce((a, r) => a + (r.counts['stale place refused'] ?? 0), 0)
  t.ok(chunks > 0 && refused > 0, `the runs placed in chunks (${chunks}) and refused former owners (${refused})`)
})

const DRAW_SEEDS = 20

t.test(`deterministic simulation of a draw: ${DRAW_SEEDS} seeds of entries, the draw at the close by owners that crash, stall and wake, newcomers refused, returns served to the runners-up in drawn order, with every writer`, async (t) => {
  const results = await simulate(Array.from({ length: DRAW_SEEDS }, (_, i) => i + 1), undefined, { extended: true, joint: true, writers: true, draw: true })
  for (const r of results) {
    if (r.problems.length > 0) t.fail(`seed ${r.seed}: ${r.problems.join('; ')}`)
  }
  t.equal(results.filter((r) => r.problems.length === 0).length, DRAW_SEEDS, 'every seed keeps every invariant, I4D of the draw too')
  const closed = results.reduce((a, r) => a + (r.counts['draw closed'] ?? 0), 0)
  const returned = results.reduce((a, r) => a + (r.counts['unit returned'] ?? 0), 0)
  t.ok(closed > 0 && returned > 0, `the runs refused newcomers after the close (${closed}) and served returns (${returned})`)
})
