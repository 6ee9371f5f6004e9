/**
 * `npm run capacity -- --buyers-per-second N --units U --sales S [--decide-within S] [--overbook F]`:
 * how many of each part a flash sale needs, from the capacity of each part as the benches measured
 * it on the development machine (2 cores; FIGURES below, each with where it was measured). The
 * README's "Capacity" section explains the model; this prints its counts.
 *
 * The model, for N buyers a second spread over S sales holding U units in all:
 *   - Until the gates close, every buy is an admission (one Redis script): that phase lasts about
 *     overbook × U / N seconds. Ingress processes: N / (admitted buys a process answers a second).
 *     Redis: a sale's admissions run on its shards, one shard being one slot on one Redis core, so
 *     a sale needs (N / S) / (admissions one core runs a second) shards, and the Cluster at least as
 *     many masters as all sales' shards need cores.
 *   - After that, buys are answered sold_out from each ingress's memory: N / (sold-out answers a
 *     process gives a second). Polls of decided tickets add a little (each buyer's long-poll).
 *   - The drain writes U orders; to decide every ticket within D seconds: U / D orders a second,
 *     over worker processes (each measured with its two drain threads) and bounded by what one
 *     MySQL primary commits. Past that, orders are partitioned by event across primaries.
 * What does not scale out by adding processes: one shard's slot (one Redis core per shard: split a
 * hot sale into more shards) and the MySQL primary's commits (partition orders by event).
 */
import { parseArgs } from 'node:util'

/**
 * Measured capacities of one part, with where each figure comes from: the bench, and the section
 * of bench/RESULTS.md that shows it (test/unit/capacity.test.ts checks the figure is there).
 */
export const FIGURES = {
  ingressAdmitted: { value: 5224, section: '<!-- tracing:start -->', unit: 'admitted buys/s per ingress process', source: 'npm run bench:tracing, tracing off, median of 3 rounds (2026-12-06 15:59, baseline 20,773 req/s); 4,841 at 10:23 the same day (baseline 20,211); 11,543 on 2026-12-01 04:02 (baseline 55,242)' },
  ingressSoldOut: { value: 5700, section: '## 1 or 2 ingress processes under PM2', unit: 'sold-out answers/s per ingress process', source: 'npm run bench:pm2, 1 ingress process (2026-11-30; 2 processes: 10,052); npm run bench 2026-11-23: 26,646 on a quieter machine' },
  ingressPolls: { value: 10566, section: '<!-- bench:start -->', unit: 'polls of decided tickets/s per ingress process', source: 'npm run bench, poll of a final ticket, median of 3 rounds (2026-12-06 15:31, 4011d56, baseline 21,522 req/s, rounds 9,993-10,826); 5,219 at 09:55 the same day on a busy machine (e881a6c); 33,495 on 2026-12-01 (2429bca, baseline 48,190)' },
  workerOrders: { value: 25316, section: '## The drain against the insert ceiling', unit: 'orders committed/s per worker process (2 drain threads)', source: 'npm run bench, drain of a 20,000-ticket backlog (2026-11-30 night, median of 3 split runs; 16,051 in the evening\'s 3 runs before the stages handed each other columns)' },
  mysqlRows: { value: 52831, section: '## The flash crowd this evening', unit: 'order rows/s one MySQL primary inserts (1,000-row inserts, no other work)', source: 'npm run bench, insert ceiling in the same rounds (2026-11-30)' },
  redisAdmissions: { value: 11972, section: '<!-- redis-wait:start -->', unit: 'admission scripts/s one Redis core runs (one shard)', source: 'npm run bench:redis-wait, admissions alone, median of 5 rounds (2026-11-30; one client process sending, so a lower bound)' }
} as const

export interface Demand {
  readonly buyersPerSecond: number
  readonly units: number
  readonly sales: number
  /** Every ticket decided within this many seconds of the sale's start. */
  readonly decideWithinSeconds: number
  readonly overbook: number
}

export interface Plan {
  readonly gateSeconds: number
  readonly ingressProcesses: number
  readonly shardsPerSale: number
  readonly redisMasters: number
  readonly ordersPerSecond: number
  readonly workerProcesses: number
  readonly mysqlPrimaries: number
  readonly notes: readonly string[]
}

export function plan (d: Demand, f = FIGURES): Plan {
  const admitted = d.overbook * d.units
  const gateSeconds = admitted / d.buyersPerSecond
  const admitPhase = d.buyersPerSecond / f.ingressAdmitted.value
  const pollsPerSecond = admitted / Math.max(1, d.decideWithinSeconds)
  const soldOutPhase = d.buyersPerSecond / f.ingressSoldOut.value + pollsPerSecond / f.ingressPolls.value
  const ingressProcesses = Math.max(1, Math.ceil(Math.max(admitPhase, soldOutPhase)))
  const perSale = d.buyersPerSecond / d.sales
  const shardsPerSale = Math.max(1, Math.ceil(perSale / f.redisAdmissions.value))
  const redisMasters = Math.max(1, Math.ceil(d.buyersPerSecond / f.redisAdmissions.value))
  const ordersPerSecond = d.units / d.decideWithinSeconds
  const mysqlPrimaries = Math.max(1, Math.ceil(ordersPerSecond / f.mysqlRows.value))
  const workerProcesses = Math.max(1, Math.ceil(ordersPerSecond / f.workerOrders.value))
  const notes: string[] = []
  if (mysqlPrimaries > 1) notes.push(`${ordersPerSecond.toFixed(0)} orders/s is past one MySQL primary (${f.mysqlRows.value}/s): partition orders by event over ${mysqlPrimaries} primaries, or allow more time to decide.`)
  if (mysqlPrimaries > d.sales) notes.push('More primaries than sales: one sale\'s orders would have to be split, which the product does not do; allow more time to decide.')
  if (shardsPerSale > 1) notes.push(`One shard's slot runs on one Redis core (${f.redisAdmissions.value} admissions/s): create each sale with shards ≥ ${shardsPerSale}.`)
  if (redisMasters > 1) notes.push(`Run Redis Cluster with ≥ ${redisMasters} masters (each with a replica) so the sales' shards spread over that many cores.`)
  return { gateSeconds, ingressProcesses, shardsPerSale, redisMasters, ordersPerSecond, workerProcesses, mysqlPrimaries, notes }
}

function main (): void {
  const { values } = parseArgs({
    options: {
      'buyers-per-second': { type: 'string' },
      units: { type: 'string' },
      sales: { type: 'string', default: '1' },
      'decide-within': { type: 'string', default: '10' },
      overbook: { type: 'string', default: '1.1' }
    }
  })
  const num = (name: string, raw: string | undefined, min: number): number => {
    const n = Number(raw)
    if (raw === undefined || !Number.isFinite(n) || n < min) {
      process.stderr.write(`--${name}: a number ≥ ${min} is required\nusage: npm run capacity -- --buyers-per-second N --units U [--sales S] [--decide-within SECONDS] [--overbook F]\n`)
      process.exit(2)
    }
    return n
  }
  const d: Demand = {
    buyersPerSecond: num('buyers-per-second', values['buyers-per-second'], 1),
    units: num('units', values.units, 1),
    sales: num('sales', values.sales, 1),
    decideWithinSeconds: num('decide-within', values['decide-within'], 1),
    overbook: num('overbook', values.overbook, 1)
  }
  const p = plan(d)
  const lines = [
    `Demand: ${d.buyersPerSecond} buyers/s over ${d.sales} sale(s) holding ${d.units} units; every ticket decided within ${d.decideWithinSeconds} s; gate overbook ${d.overbook}.`,
    '',
    `  gates close after about ${p.gateSeconds.toFixed(1)} s (${(d.overbook * d.units).toFixed(0)} tickets admitted); later buyers are answered sold_out from memory`,
    `  ingress processes (one core each)   ${p.ingressProcesses}`,
    `  shards per sale                     ${p.shardsPerSale}`,
    `  Redis Cluster masters               ${p.redisMasters}${p.redisMasters === 1 ? ' (one Redis server is enough)' : ''}`,
    `  orders to write per second          ${p.ordersPerSecond.toFixed(0)}`,
    `  worker processes (2 drain threads)  ${p.workerProcesses}`,
    `  MySQL primaries                     ${p.mysqlPrimaries}`,
    ...(p.notes.length > 0 ? ['', ...p.notes.map((n) => `  - ${n}`)] : []),
    '',
    'Measured on the development machine (2 cores), the figures the counts rest on:',
    ...Object.values(FIGURES).map((f) => `  ${String(f.value).padStart(6)} ${f.unit} -- ${f.source}`),
    '',
    'Another machine: run the benches there and scale these figures by its results (bench/RESULTS.md).'
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
}

if (require.main === module) main()
