// Regression (every writer is its owner): a unit that came back after its sale was retired (a
// cancel, or a payment deadline, after the end) was recorded in the outbox and never applied: no
// drain owned the shard any more, and I6 read false from then on. Such returns are now applied by a
// worker that takes the shard's lease for it; the retired sale's keys keep their expiry.
import t from 'tap'
import { auditSale } from '../../src/sale/invariant-audit'
import { testEnv } from '../helpers/env'
import { createSale, returnsApplied, startTestService, until } from '../helpers/sale'

t.test('a cancel after the sale was retired: the unit is applied, Redis and MySQL agree after the end', async (t) => {
  const env = await testEnv(t, { END_GRACE_MS: '0' })
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 2 })
  const orders: number[] = []
  for (const user of [501, 502]) {
    const bought = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(user) })
    let ticket = bought.body.data
    while (ticket?.status === 'queued') ticket = (await http.request('GET', `/api/v1/tickets/${String(ticket.ticket_id)}?wait=5000`, { token: env.token(user) })).body.data
    t.equal(ticket?.status, 'won', `buyer ${user} wins`)
    orders.push(Number(ticket?.order_id))
  }
  // The sale ends; the worker retires it (its keys get an expiry).
  await env.db('seckill_events').where({ id: eventId }).update({ end_at: env.db.raw('NOW(3) - INTERVAL 1 SECOND') })
  const stock = env.keys.shard({ eventId, shard: 0 }).stock
  await until(async () => await env.redis.ttl(stock) > 0, 20_000, 'the sale to be retired')

  const cancelled = await http.request('POST', `/api/v1/orders/${orders[0] ?? 0}/cancel`, { token: env.token(501) })
  t.equal(cancelled.status, 200, 'the buyer cancels after the end')
  await until(async () => await returnsApplied(env, eventId), 20_000, 'the late return to be applied')
  const i6 = (await auditSale(env.db, env.redis, env.keys, eventId)).checks.find((c) => c.id === 'I6')
  t.ok(i6?.ok, `I6 after the end: ${i6?.detail ?? ''}`)
  t.ok(await env.redis.ttl(stock) > 0, 'the retired sale\'s keys still expire')
  // The applier gives the shard back after its last Redis writes, a few round trips after the rows.
  const lease = env.keys.shard({ eventId, shard: 0 }).lease
  await until(async () => await env.redis.exists(lease) === 0, 10_000, 'the shard to be given back').catch(() => undefined)
  t.equal(await env.redis.exists(lease), 0, 'and no one holds its shard')
})

t.test('a cancel after the sale\'s state expired from Redis: accounted as applied, no key written anew', async (t) => {
  const env = await testEnv(t, { END_GRACE_MS: '0' })
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 1 })
  const bought = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(601) })
  let ticket = bought.body.data
  while (ticket?.status === 'queued') ticket = (await http.request('GET', `/api/v1/tickets/${String(ticket.ticket_id)}?wait=5000`, { token: env.token(601) })).body.data
  t.equal(ticket?.status, 'won')
  await env.db('seckill_events').where({ id: eventId }).update({ end_at: env.db.raw('NOW(3) - INTERVAL 1 SECOND') })
  const k = env.keys.shard({ eventId, shard: 0 })
  await until(async () => await env.redis.ttl(k.stock) > 0, 20_000, 'the sale to be retired')
  // The retention passes: every key of the sale is gone.
  const keys = await env.redis.keys(`${env.keys.prefix}:{e${eventId}.*`)
  if (keys.length > 0) await env.redis.del(...keys)
  t.equal((await http.request('POST', `/api/v1/orders/${String(ticket?.order_id)}/cancel`, { token: env.token(601) })).status, 200, 'the buyer cancels')
  await until(async () => await returnsApplied(env, eventId), 20_000, 'the return to be accounted')
  const left = await env.redis.keys(`${env.keys.prefix}:{e${eventId}.*`)
  t.same(await Promise.all(left.map(async (key) => [key, await env.redis.ttl(key)])), [], 'no key of the sale was written anew')
})
