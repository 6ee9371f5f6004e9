/**
 * bench/paced-load.ts: requests go out on their schedule, not as fast as answers allow, and each
 * latency counts from its due time. Every check is one-sided (a request cannot leave before it is
 * due, an answer cannot come before the server gives it), so a slow machine cannot fail them.
 */
import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import { pacedRun } from '../../bench/paced-load'

async function server (holdMs: number, status = 200): Promise<{ base: string, arrivals: number[], paths: string[], auth: string[], close: () => Promise<void> }> {
  const arrivals: number[] = []
  const paths: string[] = []
  const auth: string[] = []
  const s = createServer((req, res) => {
    arrivals.push(performance.now())
    paths.push(req.url ?? '')
    auth.push(req.headers.authorization ?? '')
    req.resume()
    setTimeout(() => { res.statusCode = status; res.end('{}') }, holdMs)
  })
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const { port } = s.address() as AddressInfo
  return { base: `http://127.0.0.1:${port}`, arrivals, paths, auth, close: async () => await new Promise<void>((resolve) => s.close(() => resolve())) }
}

t.test('sends rate × seconds requests spread over the schedule, not at once', async (t) => {
  const s = await server(0)
  t.teardown(s.close)
  const startedAt = performance.now()
  const result = await pacedRun({ base: s.base, seconds: 1, rate: 50, connections: 10, method: 'GET', pathOf: (i) => `/r/${i}`, tokenOf: (i) => `tok${i}` })
  t.equal(result.sent, 50)
  t.equal(s.arrivals.length, 50, 'every request reached the server')
  // The last is due at 49 ÷ 50 s: a closed loop (or autocannon's per-second quota) sends all
  // fifty within a few milliseconds of the start.
  t.ok((s.arrivals.at(-1) as number) - startedAt >= 980 - 5, `the last request left at its due time (${((s.arrivals.at(-1) as number) - startedAt).toFixed(0)} ms)`)
  t.ok((s.arrivals[25] as number) - startedAt >= 500 - 5, 'the 26th left no sooner than its due time')
  t.same(new Set(s.paths).size, 50, 'each request its own path')
  t.ok(s.auth.every((a, i) => a === `Bearer tok${Number(s.paths[i]?.slice(3))}`), 'each request carries its own token')
  t.equal(result.non2xx, 0)
  t.equal(result.errors, 0)
})

t.test('a latency counts from the due time, queueing for a connection included', async (t) => {
  const s = await server(40)
  t.teardown(s.close)
  // One connection, answers held 40 ms, a request due every 10 ms: each waits for the ones before
  // it, and the wait is counted.
  const result = await pacedRun({ base: s.base, seconds: 0.2, rate: 100, connections: 1, method: 'POST', pathOf: () => '/buy', tokenOf: () => 't' })
  t.equal(s.arrivals.length, 20)
  t.ok(result.p50 >= 40, `p50 at least the server's hold (${result.p50} ms)`)
  // The 20th is due at 190 ms but cannot be answered before the 20 holds before it, each at least
  // about 39 ms (a timer may fire a little early).
  t.ok(result.max >= 20 * 39 - 190, `the last one's wait for the connection is counted (${result.max} ms)`)
})

t.test('a latency counts from the due time when the sender itself is late', async (t) => {
  const s = await server(0)
  t.teardown(s.close)
  // The sender's loop is held 300 ms while sending the first request: the nineteen due meanwhile
  // (every 10 ms) leave at 300 ms or later, so each waited at least 300 - its due time.
  const result = await pacedRun({
    base: s.base,
    seconds: 0.2,
    rate: 100,
    connections: 20,
    method: 'GET',
    pathOf: (i) => {
      if (i === 0) { const until = performance.now() + 300; while (performance.now() < until) { /* the sender is busy */ } }
      return '/'
    },
    tokenOf: () => 't'
  })
  t.equal(s.arrivals.length, 20)
  // Lower bounds of the twenty latencies: 300 and 290, 280, ..., 110; the median is at least 210.
  t.ok(result.p50 >= 200, `p50 counts the sender's lateness (${result.p50} ms)`)
})

t.test('a rate or duration that is no schedule is refused at once', async (t) => {
  for (const [rate, seconds] of [[0, 1], [Number.NaN, 1], [10, 0], [Number.POSITIVE_INFINITY, 1]] as const) {
    await t.rejects(pacedRun({ base: 'http://127.0.0.1:1', seconds, rate, connections: 1, method: 'GET', pathOf: () => '/', tokenOf: () => 't' }), /not a schedule/)
  }
})

t.test('answers other than 2xx and unanswered requests are counted apart', async (t) => {
  const s = await server(0, 503)
  t.teardown(s.close)
  const shed = await pacedRun({ base: s.base, seconds: 0.1, rate: 100, connections: 2, method: 'GET', pathOf: () => '/', tokenOf: () => 't' })
  t.equal(shed.non2xx, 10)
  t.equal(shed.errors, 0)
  t.equal(shed.p99, 0, 'a refusal is no latency of an answer')
  const nobody = await pacedRun({ base: 'http://127.0.0.1:1', seconds: 0.05, rate: 100, connections: 1, method: 'GET', pathOf: () => '/', tokenOf: () => 't' })
  t.equal(nobody.errors, 5)
  t.equal(nobody.reqPerSec, 0)
})
