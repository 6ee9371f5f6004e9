/**
 * A randomized start or a draw with tens of thousands of entrants, made in seconds: the sale
 * through the admin API, the entrants' user rows, the first entry through HTTP (it warms the
 * shard, as a real sale's first buy does), the rest through the admission script itself as the
 * ingress calls it. Then `closeAndDrain` moves the start (the close) to a second from MySQL's now
 * and starts a worker. For the tests of a big placement (test/allocation/).
 */
import type { Test } from 'tap'
import { loadConfig } from '../../src/config'
import type { Config } from '../../src/config'
import { admitRandomStart } from '../../src/redis/commands'
import type { ShardKeys, ShardRef } from '../../src/redis/keys'
import { MAX_ENTRANTS_PER_SHARD } from '../../src/shared/allocation'
import { ticketIdPrefix } from '../../src/shared/ticket-ids'
import { newEntryId } from '../../src/sale'
import { testEnv } from './env'
import type { TestEnv } from './env'
import { createSale, pool, startTestService } from './sale'
import type { Http } from './sale'

export interface LeadWindowSale {
  readonly env: TestEnv
  readonly config: Config
  readonly http: Http
  readonly eventId: number
  readonly ref: ShardRef
  readonly k: ShardKeys
  /** The entrants' user ids, the first one entered through HTTP. */
  readonly users: readonly number[]
  /** Moves the close to a second from MySQL's now and starts a worker. */
  readonly closeAndDrain: () => Promise<void>
}

/** The lead window of the sale opens 660 s before a start 600 s away: open now. */
const LEAD_MS = 660_000

export async function leadWindowSale (t: Test, spec: { entrants: number, units: number, draw: boolean, env?: Record<string, string> }): Promise<LeadWindowSale> {
  const env = await testEnv(t, { GATE_OVERBOOK: '1', ...spec.env })
  const config = loadConfig({ ...env.env })
  const { http } = await startTestService(env, { ...config, role: 'ingress' })
  const fields = spec.draw ? { mode: 'draw', lead_ms: LEAD_MS } : { entry: 'random_at_start', lead_ms: LEAD_MS }
  const eventId = await createSale(http, env, { stock: spec.units, startInMs: 600_000, fields })
  const users = Array.from({ length: spec.entrants }, (_, i) => 100_001 + i)
  for (let i = 0; i < users.length; i += 5_000) {
    await env.db('users').insert(users.slice(i, i + 5_000).map((id) => ({ id, email: `u${id}@example.com`, password_hash: null, role: 'user' })))
  }
  const first = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(users[0] as number) })
  t.match(first.body.data, { awaiting_draw: true }, 'the first buyer entered')
  const row = await env.db('seckill_events').first(env.db.raw('UNIX_TIMESTAMP(start_at) * 1000 AS start_ms')).where({ id: eventId }) as { start_ms: number | string }
  const startAtMs = Math.round(Number(row.start_ms))
  const ref = { eventId, shard: 0 }
  const k = env.keys.shard(ref)
  const target = { k, q: env.keys.buyQueue(ref), ticketPrefix: ticketIdPrefix(eventId, 0), overbook: 1, rate: { max: 1_000_000, timeWindow: 60_000 }, cluster: false }
  await pool(users.slice(1), 100, async (user) => {
    const reply = await admitRandomStart(env.redis, target, String(user), undefined, { startAtMs, opensAtMs: startAtMs - LEAD_MS }, newEntryId(), MAX_ENTRANTS_PER_SHARD, spec.draw)
    if (reply.code !== 5) throw new Error(`entry of ${user}: code ${reply.code}`)
  })
  const closeAndDrain = async (): Promise<void> => {
    await env.db('seckill_events').where({ id: eventId }).update({ start_at: env.db.raw('NOW(3) + INTERVAL 1 SECOND') })
    await startTestService(env, { ...config, role: 'worker' })
  }
  return { env, config, http, eventId, ref, k, users, closeAndDrain }
}
