/**
 * `npm run sim -- --seeds N [--from S]` runs N seeds of the deterministic simulation (from seed S,
 * default 1) and prints one line per failing seed and a summary; `--seed X` replays one seed and
 * prints what it did. `--no-joint`: without joint writes (the model before they were added);
 * `--no-writers`: without the writers beside the owners (test/sim/writers.ts; the model before).
 * `--waitlist`: every sale keeps a waitlist (one shard; buyers leave it now and then).
 * `--random-start`: every sale is a randomized start (entries in the lead window, placed at the start).
 * `--draw`: every sale is a draw (entries, the draw at the close, runners-up served from the
 * waitlist as units come back; no buyer after the close).
 * Exit status 1 when any seed broke an invariant.
 */
import { breakKinds, simulate } from './harness'

function arg (name: string): number | undefined {
  const i = process.argv.indexOf(`--${name}`)
  if (i < 0) return undefined
  const n = Number(process.argv[i + 1])
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} takes a whole number`)
  return n
}

async function main (): Promise<void> {
  const one = arg('seed')
  const from = arg('from') ?? 1
  const n = arg('seeds') ?? 200
  const seeds = one !== undefined ? [one] : Array.from({ length: n }, (_, i) => from + i)
  const started = Date.now()
  const totals: Record<string, number> = {}
  const model = { extended: true, joint: !process.argv.includes('--no-joint'), writers: !process.argv.includes('--no-writers'), waitlist: process.argv.includes('--waitlist'), randomStart: process.argv.includes('--random-start'), draw: process.argv.includes('--draw') }
  // A seed that waits on itself (an actor landing inside another that it then waits for) would
  // hang the run: named after three minutes without a result.
  let done = 0
  let watchdog: NodeJS.Timeout | undefined
  const watch = (): void => {
    clearTimeout(watchdog)
    watchdog = setTimeout(() => { process.stderr.write(`seed ${String(seeds[done])} hung (no result in 180 s)\n`); process.exit(2) }, 180_000)
  }
  watch()
  const results = await simulate(seeds, (r) => {
    done++
    watch()
    for (const [k, v] of Object.entries(r.counts)) totals[k] = (totals[k] ?? 0) + v
    if (one !== undefined) process.stdout.write(r.trace.map((line) => `  ${line}\n`).join(''))
    if (r.problems.length > 0) process.stdout.write(`seed ${r.seed}: ${r.problems.join('; ')}\n`)
    else if (one !== undefined) process.stdout.write(`seed ${r.seed}: ok, ${r.steps} steps ${JSON.stringify(r.counts)}\n`)
  }, model)
  clearTimeout(watchdog)
  const broken = results.filter((r) => r.problems.length > 0)
  process.stdout.write(`${JSON.stringify({ seeds: results.length, broken: broken.length, breaks: breakKinds(results), seconds: Math.round((Date.now() - started) / 100) / 10, events: totals })}\n`)
  process.exit(broken.length > 0 ? 1 : 0)
}

main().catch((err: unknown) => {
  process.stderr.write(`sim failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(2)
})
