// An ingress keeps nothing for a sale once it is retired (issue: many drops at once). 200 sales of
// 2 shards are sold (two units each, four buyers, every ticket read back final), end and are
// retired by the worker; the ingress is told and lets go of the sale's cached row and final
// tickets (it holds no per-shard queue object: admission adds jobs in its own script). Its heap,
// after a collection, is then within 10 % of where it started (taken after 20 warm-up sales went
// the same way, so loaded and optimised code is not counted as growth).
import t from 'tap'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { setTimeout as sleep } from 'node:timers/promises'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, pool, startTestService, until } from '../helpers/sale'
import type { Http } from '../helpers/sale'
import type { Service } from '../../src/server'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

async function heapAfterCollection (): Promise<number> {
  let least = Number.POSITIVE_INFINITY
  for (let i = 0; i < 5; i++) {
    gc()
    await sleep(20)
    least = Math.min(least, process.memoryUsage().heapUsed)
  }
  return least
}

/**
 * Sells `count` sales of two units to four buyers each, reading every ticket until final, then
 * ends them: their end is moved to the past in MySQL (the clock of the sale, not a shortcut past
 * the worker, which retires them by itself from there).
 */
async function sellAndEnd (http: Http, env: TestEnv, count: number, firstUser: number): Promise<number[]> {
  const events = await pool(Array.from({ length: count }, (_, i) => i), 8, async () => await createSale(http, env, { stock: 2, shards: 2 }))
  const buyers = events.flatMap((eventId, i) => [0, 1, 2, 3].map((b) => ({ eventId, user: firstUser + i * 4 + b })))
  const statuses = await pool(buyers, 32, async ({ eventId, user }) => {
    const bought = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(user) })
    let ticket = bought.body.data
    while (ticket?.status === 'queued') ticket = (await http.request('GET', `/api/v1/tickets/${String(ticket.ticket_id)}?wait=5000`, { token: env.token(user) })).body.data
    // Read once more: a final ticket is kept by the ingress until the sale is retired.
    return (await http.request('GET', `/api/v1/tickets/${String(ticket?.ticket_id)}`, { token: env.token(user) })).body.data?.status as string
  })
  const won = statuses.filter((s) => s === 'won').length
  if (won !== 2 * count) throw new Error(`expected two winners per sale, got ${won} in ${count} sales`)
  await env.db('seckill_events').whereIn('id', events).update({ end_at: env.db.raw('NOW(3) - INTERVAL 1 SECOND') })
  return events
}

function released (service: Service): boolean {
  return service.ingress?.cache.size === 0
}

t.test('an ingress lets go of retired sales: heap back within 10 % after 200 of them', async (t) => {
  const env = await testEnv(t, { END_GRACE_MS: '0', EVENT_CACHE_MS: '0', RATE_LIMIT_BUY: '100000', RATE_LIMIT_POLL: '100000' })
  const { http, service } = await startTestService(env)

  await sellAndEnd(http, env, 20, 1)
  await until(async () => released(service), 30_000, 'the warm-up sales to be retired and released')
  const start = await heapAfterCollection()

  const events = await sellAndEnd(http, env, 200, 10_000)
  t.ok((service.ingress?.cache.size ?? 0) > 0, 'the ingress held the sales while they ran')
  await until(async () => released(service), 60_000, 'all 200 sales to be retired and released')
  t.equal(service.ingress?.cache.size, 0, 'no sale is left in the event cache')
  for (const eventId of [events[0], events[199]]) {
    t.equal(await env.redis.exists(env.keys.shard({ eventId: eventId as number, shard: 0 }).lease), 0, `sale ${String(eventId)}: no shard is owned any more`)
  }

  const end = await heapAfterCollection()
  const mib = (n: number): string => (n / 1048576).toFixed(1)
  t.comment(`heap after a collection: ${mib(start)} MiB at the start, ${mib(end)} MiB after 200 retired sales`)
  t.ok(end <= start * 1.1, `the heap is within 10 % of its start (${mib(start)} -> ${mib(end)} MiB)`)
})
