/**
 * Regression (issue 34): a buy sent long before a randomized start's or a draw's lead window opens
 * reached Redis: the admission script judges the opening on Redis's TIME and answers "not open"
 * without counting anything, not even the rate limit, so one client could keep Redis busy for as
 * long as it liked before a sale. Now the ingress answers a buy more than OPENING_SKEW_MS before
 * the opening itself (409 EVENT_NOT_STARTED) and sends nothing; nearer the opening, the script
 * still judges (an ingress's clock is not the last word).
 *
 * Seen with Redis's MONITOR, filtered to this test's key prefix (other tests share the server).
 */
import t from 'tap'
import type { Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { loadConfig } from '../../src/config'
import { createRedis } from '../../src/redis/client'
import { OPENING_SKEW_MS } from '../../src/sale/admission'
import { BASE_REDIS_URL, testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, startTestService } from '../helpers/sale'
import type { Http } from '../helpers/sale'

async function saleEnv (t: Test, closeInMs: number, fields: Record<string, unknown>): Promise<{ env: TestEnv, http: Http, eventId: number }> {
  const env = await testEnv(t)
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(http, env, { stock: 1, startInMs: closeInMs, fields })
  return { env, http, eventId }
}

/** The commands naming `prefix` that Redis ran while `fn` ran. */
async function commandsDuring (prefix: string, fn: () => Promise<void>): Promise<string[]> {
  const client = createRedis(BASE_REDIS_URL)
  const monitor = await client.monitor()
  const seen: string[] = []
  monitor.on('monitor', (_time: string, args: string[]) => { if (args.some((a) => String(a).includes(prefix))) seen.push(String(args[0])) })
  try {
    await fn()
    // MONITOR streams what ran in order: a marker command, once seen, means everything before was.
    await client.get(`${prefix}:monitor-marker`)
    const deadline = Date.now() + 10_000
    while (!seen.includes('get') && Date.now() < deadline) await sleep(10)
    if (!seen.includes('get')) throw new Error('MONITOR never showed the marker')
  } finally {
    monitor.disconnect()
    client.disconnect()
  }
  return seen.filter((c) => c !== 'get')
}

for (const [kind, fields] of [['draw', { mode: 'draw', lead_ms: 60_000 }], ['randomized start', { entry: 'random_at_start', lead_ms: 60_000 }]] as const) {
  t.test(`${kind}: a buy long before the window opens never reaches Redis; one near the opening does`, async (t) => {
    // The close in 60 s + OPENING_SKEW_MS + 60 s: the window (60 s) opens in OPENING_SKEW_MS + 60 s.
    const far = await saleEnv(t, 120_000 + OPENING_SKEW_MS, fields)
    let answer: { status: number, body: any } | undefined
    const farCommands = await commandsDuring(far.env.env.REDIS_PREFIX as string, async () => {
      answer = await far.http.request('POST', `/api/v1/events/${far.eventId}/buy`, { token: far.env.token(501) })
    })
    t.same([answer?.status, answer?.body.code], [409, 'EVENT_NOT_STARTED'], 'not started')
    t.same(farCommands.filter((c) => c === 'evalsha' || c === 'eval'), [], 'no script call reached Redis')

    // The window opens in 30 s: within the skew, so the script judges (and refuses).
    const near = await saleEnv(t, 90_000, fields)
    const nearCommands = await commandsDuring(near.env.env.REDIS_PREFIX as string, async () => {
      answer = await near.http.request('POST', `/api/v1/events/${near.eventId}/buy`, { token: near.env.token(502) })
    })
    t.same([answer?.status, answer?.body.code], [409, 'EVENT_NOT_STARTED'], 'not started, on Redis\'s clock')
    t.ok(nearCommands.some((c) => c === 'evalsha' || c === 'eval'), `the admission script judged it (${nearCommands.join(', ')})`)
  })
}
