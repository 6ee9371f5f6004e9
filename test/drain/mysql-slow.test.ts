import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { auditSale } from '../../src/sale/invariant-audit'
import { createDb } from '../../src/db/knex'
import { testEnv } from '../helpers/env'
import { createSale, pool, saleIdle, startTestService, until } from '../helpers/sale'

t.test('MySQL slow (the event row locked by another connection): buyers are still answered, the drain waits, every ticket ends right', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 100 })
  await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(1) }) // the ingress knows the event

  const locker = createDb(env.config.databaseUrl, { poolMax: 1 })
  env.defer(async () => await locker.destroy())
  const trx = await locker.transaction()
  await trx('seckill_events').forUpdate().where({ id: eventId }).first()

  const started = Date.now()
  const answers = await pool(Array.from({ length: 300 }, (_, i) => 2 + i), 50, async (u) => (await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) })).status)
  const answeredIn = Date.now() - started
  t.ok(answers.every((s) => s === 200 || s === 202), 'every buyer answered while MySQL is stuck')
  t.ok(answeredIn < 10_000, `in ${answeredIn} ms`)
  await sleep(2000)
  t.equal(Number((await env.db('orders').where({ event_id: eventId }).count({ n: '*' }).first() as { n: number }).n), 0, 'no order written while the row is locked')
  t.notOk(await saleIdle(env, eventId, 1), 'tickets wait')

  await trx.rollback() // MySQL answers again
  await until(async () => await saleIdle(env, eventId, 1), 60_000, 'the drain to finish once MySQL is back')
  const audit = await auditSale(env.db, env.redis, env.keys, eventId)
  for (const c of audit.checks) t.ok(c.ok, `${c.id}: ${c.detail}`)
  t.equal(audit.liveOrders, 100)
})
