/**
 * `npm run bench:tracing`: what OpenTelemetry tracing costs the admitted buy, off, at 1 % and at
 * 100 % sampling. Each round measures the baseline route, then each mode in turn (the order turns
 * round by round) on a fresh ingress and worker: a crowd of distinct buyers admitted to a sale with
 * stock to spare for BENCH_SECONDS, then the drain of what it admitted. Spans go over OTLP/HTTP to
 * a sink in its own process that answers and forgets (the trace store's cost is not the service's).
 *
 * Options: BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_CONNECTIONS (100), BENCH_PORT (18180),
 * BENCH_WRITE (1: write the section of bench/RESULTS.md).
 */
import { spawn } from 'node:child_process'
import { cpus } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { startBaseline } from './processes'
import { baseline as baselineRun, timedRun } from './scenarios'
import type { Rate } from './scenarios'
import { openBench } from './service-under-test'
import { envNumber, finishBench, median, runBench, stat } from './results-file'

const ROUNDS = envNumber('BENCH_ROUNDS', 3)
const SECONDS = envNumber('BENCH_SECONDS', 5)
const CONNECTIONS = envNumber('BENCH_CONNECTIONS', 100)
const PORT = envNumber('BENCH_PORT', 18180)

const MODES = [
  { name: 'off', env: {} },
  { name: '1 %', env: { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01' } },
  { name: '100 %', env: { OTEL_TRACES_SAMPLER: 'parentbased_always_on' } }
] as const

interface Cell { readonly admitted: Rate, readonly drainPerSec: number }

/** An OTLP/HTTP endpoint that reads each post and answers 200: the exporter's work is all that is measured. */
async function startSink (port: number): Promise<() => void> {
  const child = spawn(process.execPath, ['-e', `require('node:http').createServer((q, s) => { q.resume(); q.on('end', () => s.end('{}')) }).listen(${port}, '127.0.0.1')`], { stdio: 'ignore' })
  await sleep(300)
  return () => child.kill('SIGTERM')
}

async function main (): Promise<void> {
  const bench = await openBench(PORT, 'seckill_bench_tracing')
  const baselineChild = await startBaseline(PORT + 10)
  const stopSink = await startSink(PORT + 11)
  const otlp = { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${PORT + 11}`, OTEL_BSP_SCHEDULE_DELAY: '1000' }
  const baselineTokens = Array.from({ length: 50_000 }, (_, i) => bench.userToken(String(900_000_000 + i)))
  const baseline: number[] = []
  const cells = new Map<string, Cell[]>(MODES.map((m) => [m.name, []]))
  let user = 1_000_000
  try {
    for (let round = 0; round < ROUNDS; round++) {
      baseline.push((await baselineRun(baselineChild.url, SECONDS, CONNECTIONS, (i) => baselineTokens[i % baselineTokens.length] as string)).reqPerSec)
      const order = MODES.map((_, i) => MODES[(i + round) % MODES.length] as typeof MODES[number])
      for (const mode of order) {
        const service = await bench.start(mode.name === 'off' ? {} : { ...otlp, ...mode.env })
        try {
          const eventId = await bench.bigSale(service.url)
          const tokens = Array.from({ length: 150_000 }, () => bench.userToken(String(user++)))
          const admitted = await timedRun(service.url, SECONDS, CONNECTIONS, 'POST', () => `/api/v1/events/${eventId}/buy`, (i) => tokens[i % tokens.length] as string)
          const crowdEnd = Date.now()
          const tickets = Number(await bench.redis.get(bench.keys.shard({ eventId, shard: 0 }).qseq) ?? 0)
          const decidedAt = await bench.decided(eventId)
          const drainPerSec = tickets / Math.max(0.001, (decidedAt - crowdEnd) / 1000 + SECONDS)
          cells.get(mode.name)?.push({ admitted, drainPerSec })
          process.stdout.write(`round ${round + 1}, tracing ${mode.name}: ${admitted.reqPerSec.toFixed(0)} buys/s, p99 ${admitted.p99} ms, ${tickets} tickets decided at ${drainPerSec.toFixed(0)}/s\n`)
        } finally {
          await service.stop()
        }
      }
    }
  } finally {
    stopSink()
    await baselineChild.stop()
    await bench.close()
  }
  const off = median((cells.get('off') ?? []).map((c) => c.admitted.reqPerSec))
  const rows = MODES.map((m) => {
    const cs = cells.get(m.name) ?? []
    const rates = cs.map((c) => c.admitted.reqPerSec)
    return `| ${m.name} | ${stat(rates)} | ${(100 * median(rates) / median(baseline)).toFixed(1)} % | ${(100 * median(rates) / off).toFixed(1)} % | ${stat(cs.map((c) => c.admitted.p99))} | ${stat(cs.map((c) => c.drainPerSec))} |`
  })
  const text = [
    `${cpus().length} cores, Node ${process.version}; ${ROUNDS} rounds, ${SECONDS} s crowds of distinct buyers, ${CONNECTIONS} connections; ingress and worker as separate processes; spans to an OTLP/HTTP sink in its own process. Baseline (plain route): ${stat(baseline)} req/s. Medians (min–max).`,
    '',
    '| tracing | admitted buys/s | of baseline | of tracing off | p99 (ms) | tickets decided/s (crowd start to last decided) |',
    '|---|---|---|---|---|---|',
    ...rows
  ].join('\n')
  finishBench('tracing', 'npm run bench:tracing', text)
}

runBench(main)
