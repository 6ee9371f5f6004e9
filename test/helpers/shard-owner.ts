/**
 * Driving one shard by hand, the way the drainer does: a fenced lease taken like a new owner takes
 * it, the reserve, write and finish stages of batches, and the returns applied between batches --
 * against the real scripts, Redis and MariaDB. For tests that need one interleaving exactly.
 */
import { loadConfig } from '../../src/config'
import { acquireLease } from '../../src/stock/shard-lease'
import type { Lease } from '../../src/stock/shard-lease'
import { shardOf } from '../../src/shared/ticket-ids'
import { finishBatch, reserveBatch, writeBatch } from '../../workers/drain-batch'
import type { DrainBatchInput, DrainBatchResult, DrainDeps, Reservation, Written } from '../../workers/drain-batch'
import { applyDueReturns } from '../../src/stock/return-applier'
import type { AppliedReturns } from '../../src/stock/return-applier'
import { auditSale } from '../../src/sale/invariant-audit'
import { testEnv } from './env'
import type { TestEnv } from './env'
import { createSale, startTestService } from './sale'
import type { Http } from './sale'
import type { Test } from './tap-types'

export interface Owner {
  readonly lease: Lease
  reserve: (positions: number[]) => Promise<Reservation>
  write: (positions: number[], r: Reservation) => Promise<Written>
  finish: (positions: number[], r: Reservation, w: Written) => Promise<DrainBatchResult>
  batch: (positions: number[]) => Promise<DrainBatchResult>
  applyReturns: () => Promise<AppliedReturns>
}

export async function takeShard (env: TestEnv, eventId: number, name: string, shard = 0, shards = 1): Promise<Owner> {
  const ref = { eventId, shard }
  const k = env.keys.shard(ref)
  await env.redis.del(k.lease) // the previous owner's lease ran out
  const lease = await acquireLease(env.redis, env.db, env.keys, ref, shards, name, 600_000)
  if (lease === undefined) throw new Error('lease not taken')
  const deps: DrainDeps = { redis: env.redis, db: env.db, keys: env.keys, orderWrites: { paymentTimeoutMs: 600_000, consecutiveIds: true } }
  const input = (positions: number[]): DrainBatchInput => ({ eventId, shard, shards, leaseToken: lease.token, fence: lease.fence, positions, rate: 0 })
  const owner: Owner = {
    lease,
    reserve: async (p) => await reserveBatch(deps, input(p)),
    write: async (p, r) => await writeBatch(deps, input(p), r),
    finish: async (p, r, w) => await finishBatch(deps, input(p), r, w),
    batch: async (p) => {
      const r = await owner.reserve(p)
      return await owner.finish(p, r, await owner.write(p, r))
    },
    applyReturns: async () => await applyDueReturns(env, ref, shards, lease.token)
  }
  return owner
}

export async function buy (t: Test, http: Http, env: TestEnv, eventId: number, user: number): Promise<number> {
  const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(user) })
  t.equal(r.status, 202, `buyer ${user} is queued`)
  return Number(String(r.body.data.ticket_id).split('-')[2])
}

export async function expectAudit (t: Test, env: TestEnv, eventId: number): Promise<void> {
  const audit = await auditSale(env.db, env.redis, env.keys, eventId)
  for (const c of audit.checks) t.ok(c.ok, `${c.id}: ${c.detail}`)
}

export async function setup (t: Test, stock: number, shards = 1): Promise<{ env: TestEnv, http: Http, eventId: number, service: Awaited<ReturnType<typeof startTestService>>['service'] }> {
  // Ingress only: the test is the drain. A wide gate, so later buyers queue behind the first.
  const env = await testEnv(t, { GATE_OVERBOOK: '10' })
  const { http, service } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(http, env, { stock, shards })
  return { env, http, eventId, service }
}

/** `n` buyer ids from `from` whose tickets go to `shard` of a `shards`-shard sale. */
export function buyersOf (shard: number, shards: number, from: number, n: number): number[] {
  const out: number[] = []
  for (let u = from; out.length < n; u++) if (shardOf(String(u), shards) === shard) out.push(u)
  return out
}

export const orderOf = async (env: TestEnv, ticketId: string): Promise<string> =>
  String((await env.db('orders').first('id').where({ ticket_id: ticketId }) as { id: number }).id)
