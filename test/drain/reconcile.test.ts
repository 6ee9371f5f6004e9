import t from 'tap'
import { spawnSync } from 'node:child_process'
import { loadConfig } from '../../src/config'
import { auditSale } from '../../src/sale/invariant-audit'
import { repoPath } from '../../src/util/paths'
import { testEnv } from '../helpers/env'
import { createSale, pool, saleIdle, startTestService, until } from '../helpers/sale'

t.test('the reconciler finds Redis drifted from MySQL and repairs it, from the CLI and at worker start', async (t) => {
  const env = await testEnv(t)
  const first = await startTestService(env)
  const eventId = await createSale(first.http, env, { stock: 20, shards: 2 })
  await pool(Array.from({ length: 15 }, (_, i) => 300 + i), 5, async (u) => await first.http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) }))
  await until(async () => await saleIdle(env, eventId, 2), 20_000, 'the sale')
  await first.service.stop() // no drain holds the leases now

  const k0 = env.keys.shard({ eventId, shard: 0 })
  const k1 = env.keys.shard({ eventId, shard: 1 })
  const orders = await env.db('orders').where({ event_id: eventId }).select('id', 'ticket_id') as Array<{ id: number, ticket_id: string }>
  const [lostMarker, cancelled] = orders as [{ ticket_id: string }, { id: number, ticket_id: string }]
  // Four kinds of drift a crash could leave:
  for (const k of [k0, k1]) await env.redis.hdel(k.reserved, lostMarker.ticket_id)                  // a live order's unit not marked held
  await env.db.transaction(async (trx) => {                                                            // an order cancelled in MySQL, unit never returned
    await trx('orders').where({ id: cancelled.id }).update({ status: 'cancelled' })
    await trx('seckill_events').where({ id: eventId }).decrement('sold', 1)
  })
  await env.redis.hset(k0.reserved, `${eventId}-0-999`, '1')                                          // a unit held for an order never written
  await env.redis.incrby(k1.stock, 3)                                                                   // stock counted twice
  t.notOk((await auditSale(env.db, env.redis, env.keys, eventId)).checks.find((c) => c.id === 'I6')?.ok, 'I6 is broken')

  const run = spawnSync(process.execPath, [repoPath('dist', 'src', 'cli', 'reconcile.js')], { env: { PATH: process.env.PATH ?? '', ...env.env }, encoding: 'utf8' })
  t.equal(run.status, 0, run.stderr)
  const report = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.eventId === eventId)
  t.match(report, { atRest: true, markedHeld: 1, returned: 1, freed: 1, changed: true }, 'what it changed, reported')
  const after = await auditSale(env.db, env.redis, env.keys, eventId)
  for (const c of after.checks) if (['I1', 'I2', 'I3', 'I4', 'I6'].includes(c.id)) t.ok(c.ok, `${c.id}: ${c.detail}`)
  t.equal(after.liveOrders, 14)

  const again = spawnSync(process.execPath, [repoPath('dist', 'src', 'cli', 'reconcile.js')], { env: { PATH: process.env.PATH ?? '', ...env.env }, encoding: 'utf8' })
  t.match(again.stdout, new RegExp(`"eventId":${eventId},[^\\n]*"changed":false`), 'a second run finds nothing to do')

  // Drift while no one looks; a worker starting up repairs it before draining.
  await env.redis.incrby(k0.stock, 5)
  await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'worker' }))
  await until(async () => (await auditSale(env.db, env.redis, env.keys, eventId)).checks.find((c) => c.id === 'I6')?.ok === true, 10_000, 'the worker to reconcile')
  t.pass('repaired at worker start')
})
