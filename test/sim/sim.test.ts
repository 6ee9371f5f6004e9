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
