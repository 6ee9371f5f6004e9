/**
 * `npm run bench:overload`: a crowd beyond the ingress's capacity. Admitted buys (a sale with stock
 * to spare, distinct buyers) from 100 connections, about what one ingress serves, and from
 * BENCH_OVERLOAD_CONNECTIONS (2,000), far beyond it; with load shedding at its defaults
 * (OVERLOAD_MAX_IN_FLIGHT=500, OVERLOAD_EVENT_LOOP_DELAY_MS=250) and off (both 0). Reported per cell: requests answered per
 * second, the share answered 503 (shed), the p99 of the answered (2xx) requests apart from the
 * shed ones, the p99 of every answer, and requests with no answer within 10 s.
 *
 * Options: BENCH_ROUNDS (3), BENCH_SECONDS (6), BENCH_OVERLOAD_CONNECTIONS (2000), BENCH_PORT
 * (18280), BENCH_WRITE (1).
 */
import { cpus } from 'node:os'
import { startBaseline } from './processes'
import { baseline as baselineRun, timedRunByStatus } from './scenarios'
import type { RateByStatus } from './scenarios'
import { openBench } from './service-under-test'
import { envNumber, finishBench, runBench, stat } from './results-file'

const ROUNDS = envNumber('BENCH_ROUNDS', 3)
const SECONDS = envNumber('BENCH_SECONDS', 6)
const BEYOND = envNumber('BENCH_OVERLOAD_CONNECTIONS', 2000)
const PORT = envNumber('BENCH_PORT', 18280)

const SHEDDING = [
  { name: 'shedding on (defaults: 500 in flight, 250 ms loop delay)', env: {} },
  { name: 'shedding off', env: { OVERLOAD_MAX_IN_FLIGHT: '0', OVERLOAD_EVENT_LOOP_DELAY_MS: '0' } }
] as const
const CROWDS = [100, BEYOND] as const

async function main (): Promise<void> {
  const bench = await openBench(PORT, 'seckill_bench_overload')
  const baselineChild = await startBaseline(PORT + 10)
  const baselineTokens = Array.from({ length: 50_000 }, (_, i) => bench.userToken(String(900_000_000 + i)))
  const baseline: number[] = []
  const cells = new Map<string, RateByStatus[]>()
  let user = 1_000_000
  try {
    for (let round = 0; round < ROUNDS; round++) {
      baseline.push((await baselineRun(baselineChild.url, SECONDS, 100, (i) => baselineTokens[i % baselineTokens.length] as string)).reqPerSec)
      for (const shed of round % 2 === 0 ? SHEDDING : [...SHEDDING].reverse()) {
        const service = await bench.start({ ...shed.env, MAX_WAITING: '100000' })
        try {
          for (const connections of CROWDS) {
            const eventId = await bench.bigSale(service.url)
            const tokens = Array.from({ length: 150_000 }, () => bench.userToken(String(user++)))
            const r = await timedRunByStatus(service.url, SECONDS, connections, 'POST', () => `/api/v1/events/${eventId}/buy`, (i) => tokens[i % tokens.length] as string)
            const key = `${shed.name}|${connections}`
            cells.set(key, [...(cells.get(key) ?? []), r])
            process.stdout.write(`round ${round + 1}, ${shed.name}, ${connections} connections: ${r.reqPerSec.toFixed(0)} answers/s, ${(100 * r.shedShare).toFixed(1)} % shed, answered p99 ${r.okP99} ms, all p99 ${r.allP99} ms, ${r.errors} unanswered\n`)
            await bench.decided(eventId)
          }
        } finally {
          await service.stop()
        }
      }
    }
  } finally {
    await baselineChild.stop()
    await bench.close()
  }
  const rows = SHEDDING.flatMap((shed) => CROWDS.map((c) => {
    const rs = cells.get(`${shed.name}|${c}`) ?? []
    return `| ${shed.name} | ${c} | ${stat(rs.map((r) => r.reqPerSec))} | ${stat(rs.map((r) => r.okPerSec))} | ${stat(rs.map((r) => 100 * r.shedShare), 1)} | ${stat(rs.map((r) => r.okP99))} | ${stat(rs.map((r) => r.allP99))} | ${stat(rs.map((r) => r.errors))} |`
  }))
  const text = [
    `${cpus().length} cores, Node ${process.version}; ${ROUNDS} rounds of ${SECONDS} s; admitted buys of distinct buyers; ingress and worker as separate processes; the load generator on the same machine. Baseline (plain route, 100 connections): ${stat(baseline)} req/s. Medians (min–max).`,
    '',
    '| ingress | connections | answers/s | 2xx/s | shed (503), % | p99 of 2xx (ms) | p99 of all (ms) | unanswered in 10 s |',
    '|---|---|---|---|---|---|---|---|',
    ...rows
  ].join('\n')
  finishBench('overload', 'npm run bench:overload', text)
}

runBench(main)
