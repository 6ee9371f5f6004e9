/**
 * `npm run drills [name …]`: runs the fault drills one after another, prints a line for each, and
 * writes the table to ops/DRILLS.md. Exits non-zero when any drill fails. Each drill is a scripted
 * sale with a crowd, bounded in time, against the local Redis and MySQL (and redis-servers of its
 * own on other loopback ports).
 */
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { repoPath } from '../../src/util/paths'
import type { Drill, DrillResult } from './harness'
import { ingressKill, workerKills } from './process-kills'
import { threadHang, threadThrow } from './thread-faults'
import { redisRestartAof, redisRestartEmpty } from './redis-restart'
import { mysqlOutage, mysqlSlow } from './mysql-faults'
import { crashPoints } from './crash-points'
import { hostileInput } from './hostile-input'
import { replays } from './replays'
import { returnsUnderFire } from './returns-under-fire'
import { redisFailover } from './redis-failover'
import { clockSkew } from './clock-skew'
import { rebuildStorm } from './rebuild-storm'
import { paymentsUnderFire } from './payments-under-fire'

const DRILLS: readonly Drill[] = [workerKills, ingressKill, threadThrow, threadHang, redisRestartAof, redisRestartEmpty, mysqlOutage, mysqlSlow, crashPoints, hostileInput, replays, returnsUnderFire, redisFailover, clockSkew, rebuildStorm, paymentsUnderFire]

/** No drill may run longer than this; a stuck one fails rather than hangs the run. */
const DRILL_LIMIT_MS = 180_000

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`

function line (r: DrillResult): string {
  return `${r.ok ? 'PASS' : 'FAIL'} ${r.name}: ${r.broke}; broken ${seconds(r.brokenMs)}; served ${r.served}/${r.requests}; ` +
    `lost ${r.lost}, oversold ${r.oversold}, duplicated ${r.duplicated}; recovered in ${seconds(r.recoverMs)}`
}

function failed (name: string, err: unknown): DrillResult {
  const what = err instanceof Error ? err.message : String(err)
  return { name, broke: `the drill itself failed: ${what.slice(0, 300)}`, brokenMs: 0, requests: 0, served: 0, lost: 0, oversold: 0, duplicated: 0, recoverMs: 0, checks: [], extra: [], ok: false }
}

async function runOne (drill: Drill): Promise<DrillResult> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`no result in ${DRILL_LIMIT_MS / 1000} s`)), DRILL_LIMIT_MS) })
  try {
    return await Promise.race([drill.run(), limit])
  } catch (err) {
    return failed(drill.name, err)
  } finally {
    clearTimeout(timer)
  }
}

function report (results: readonly DrillResult[], totalMs: number): string {
  const rows = results.map((r) => `| ${r.name} | ${r.broke} | ${seconds(r.brokenMs)} | ${r.served} / ${r.requests} | ${r.lost} | ${r.oversold} | ${r.duplicated} | ${seconds(r.recoverMs)} | ${r.ok ? 'pass' : '**FAIL**'} |`)
  const details = results.map((r) => {
    const checks = r.checks.map((c) => `  - ${c.ok ? '✓' : '✗'} ${c.id}: ${c.detail}`)
    const extra = r.extra.map((e) => `  - ${e.ok ? '✓' : '✗'} ${e.what}`)
    return [`- **${r.name}**`, ...checks, ...extra].join('\n')
  })
  return `# Fault drills

Written by \`npm run drills\` (scripts in \`ops/drills/\`); the latest run is below. Each drill is a
scripted sale with a crowd of buyers that behave like real clients (a dropped connection or a 503 is
retried, on another ingress when there is one), a fault injected mid-sale, and a verdict: every
ticket the crowd was given read back through the API and checked against MySQL, then the sale
audited against the invariants I1–I6 (I7 on the crowd's own answers: one ticket per buyer).

- *served*: requests answered below 500, of all sent (retries included).
- *lost*: admitted tickets that never became final or that the API no longer knows. Tickets that
  Redis lost when it restarted without persistence read \`failed\` (\`lost_in_redis\`): final, not lost.
- *oversold*: live orders beyond the stock, plus any gap between \`sold\` and the live orders.
- *duplicated*: buyers with two live orders, ticket ids used twice, buyers given two tickets, units
  held or returned twice (I6).
- *recovered in*: from the repair until every admitted ticket was final.

Run on ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, Node ${process.version}; ${results.length} drills in ${seconds(totalMs)}.

| drill | what broke | broken for | served | lost | oversold | duplicated | recovered in | result |
|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

## What each drill checked

${details.join('\n')}
`
}

async function main (): Promise<void> {
  const only = process.argv.slice(2)
  const unknown = only.filter((n) => !DRILLS.some((d) => d.name === n))
  if (unknown.length > 0) {
    process.stderr.write(`unknown drill(s): ${unknown.join(', ')}; known: ${DRILLS.map((d) => d.name).join(', ')}\n`)
    process.exit(2)
  }
  const chosen = only.length === 0 ? DRILLS : DRILLS.filter((d) => only.includes(d.name))
  const started = Date.now()
  const results: DrillResult[] = []
  for (const drill of chosen) {
    const result = await runOne(drill)
    results.push(result)
    process.stdout.write(line(result) + '\n')
    if (!result.ok) {
      for (const c of result.checks.filter((c) => !c.ok)) process.stdout.write(`  ✗ ${c.id}: ${c.detail}\n`)
      for (const e of result.extra.filter((e) => !e.ok)) process.stdout.write(`  ✗ ${e.what}\n`)
    }
  }
  if (only.length === 0) writeFileSync(repoPath('ops', 'DRILLS.md'), report(results, Date.now() - started))
  const bad = results.filter((r) => !r.ok).length
  process.stdout.write(`drills: ${results.length - bad} passed, ${bad} failed\n`)
  process.exit(bad === 0 ? 0 : 1)
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
