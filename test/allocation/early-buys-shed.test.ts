/**
 * Regression (issue 34): a buy sent long before a randomized start's or a draw's lead window opens
 * reached Redis: the admission script judges the opening on Redis's TIME and answers "not open"
 * without counting anything, not even the rate limit, so one client could keep Redis busy for as
 * long as it liked before a sale. Now the ingress answers a buy more than OPENING_SKEW_MS before
 * the opening itself (409 EVENT_NOT_STARTED) and sends nothing; nearer the opening, the script
 * still judges (an ingress's clock is not the last word).
 *
 * Counted with the ingress's own metrics of admission script calls.
 */
import t from 'tap'
import type { Test } from 'tap'
import { loadConfig } from '../../src/config'
import { OPENING_SKEW_MS } from '../../src/sale/admission'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, startTestService } from '../helpers/sale'
import type { Http } from '../helpers/sale'

/** /metrics on the API port, behind a token. */
const METRICS_TOKEN = 'early-buys-metrics-token-0123456789abcdef'

async function saleEnv (t: Test, closeInMs: number, fields: Record<string, unknown>): Promise<{ env: TestEnv, http: Http, eventId: number }> {
  const env = await testEnv(t, { METRICS_TOKEN })
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(http, env, { stock: 1, startInMs: closeInMs, fields })
  return { env, http, eventId }
}

/**
 * Admission script calls this ingress made so far: its own metrics (seckill_admit_seconds times
 * every call, lua/admitRandomStart's "not open" answer included). Not Redis's MONITOR: other tests
 * share the server, and MONITOR under their load slowed Redis and this test for minutes.
 */
async function admissionCalls (http: Http): Promise<number> {
  const text = await (await fetch(`${http.base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text()
  const count = /^seckill_admit_seconds_count(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1]
  if (count === undefined) throw new Error('no seckill_admit_seconds_count in /metrics')
  return Number(count)
}

/** The admission script calls made while `fn` ran. */
async function callsDuring (http: Http, fn: () => Promise<void>): Promise<number> {
  const before = await admissionCalls(http)
  await fn()
  return await admissionCalls(http) - before
}

for (const [kind, fields] of [['draw', { mode: 'draw', lead_ms: 60_000 }], ['randomized start', { entry: 'random_at_start', lead_ms: 60_000 }]] as const) {
  t.test(`${kind}: a buy long before the window opens never reaches Redis; one near the opening does`, async (t) => {
    // The close in 60 s + OPENING_SKEW_MS + 60 s: the window (60 s) opens in OPENING_SKEW_MS + 60 s.
    const far = await saleEnv(t, 120_000 + OPENING_SKEW_MS, fields)
    let answer: { status: number, body: any } | undefined
    const farCalls = await callsDuring(far.http, async () => {
      answer = await far.http.request('POST', `/api/v1/events/${far.eventId}/buy`, { token: far.env.token(501) })
    })
    t.same([answer?.status, answer?.body.code], [409, 'EVENT_NOT_STARTED'], 'not started')
    t.equal(farCalls, 0, 'no admission script call reached Redis')

    // The window opens in 30 s: within the skew, so the script judges (and refuses).
    const near = await saleEnv(t, 90_000, fields)
    const nearCalls = await callsDuring(near.http, async () => {
      answer = await near.http.request('POST', `/api/v1/events/${near.eventId}/buy`, { token: near.env.token(502) })
    })
    t.same([answer?.status, answer?.body.code], [409, 'EVENT_NOT_STARTED'], 'not started, on Redis\'s clock')
    t.equal(nearCalls, 1, 'the admission script judged it')
  })
}
