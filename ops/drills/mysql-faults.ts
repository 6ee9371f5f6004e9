/**
 * Drill 4: MySQL away for 10 s mid-sale (its port cut), and MySQL slow (the event's row locked
 * from another connection). Admission needs only Redis, so buyers keep being answered; the drain
 * fails its transactions and retries with backoff; once MySQL is back every ticket ends right.
 */
import type { Drill } from './harness'
import { freePort, sleep, withSale } from './harness'
import { TcpCut } from './tcp-cut'
import { BASE_DATABASE_URL } from '../../test/helpers/env'

const OUTAGE_MS = 10_000

export const mysqlOutage: Drill = {
  name: 'mysql-outage',
  run: async () => {
    const target = new URL(BASE_DATABASE_URL)
    const relay = new TcpCut(await freePort(), { host: target.hostname, port: Number(target.port || 3306) })
    await relay.open()
    try {
      return await withSale({}, { stock: 400 }, async (sale) => {
        const viaRelay = new URL(sale.env.config.databaseUrl)
        viaRelay.port = String(relay.port)
        const env = { DATABASE_URL: viaRelay.toString() }
        await sale.process('ingress', env)
        await sale.process('worker', env)
        await sale.createEvent()
        // A slow crowd that lasts through the outage.
        const crowd = sale.crowd(50_000, 2000, 8, { paceMs: 50 })
        await sleep(300)
        const brokenAt = Date.now()
        const before = { requests: sale.requests, failed: sale.failed }
        await relay.cut()
        await sleep(OUTAGE_MS)
        const during = { requests: sale.requests - before.requests, unanswered: sale.failed - before.failed }
        await relay.open()
        const repairedAt = Date.now()
        await crowd
        await sale.settle()
        return await sale.verdict({
          name: 'mysql-outage',
          broke: 'MySQL unreachable (connections dropped, port closed) for 10 s mid-sale',
          brokenMs: repairedAt - brokenAt,
          recoverMs: Date.now() - repairedAt,
          extra: [{ what: `buyers were answered while MySQL was away (${during.requests} requests, ${during.unanswered} unanswered)`, ok: during.requests > 0 && during.unanswered === 0 }]
        })
      })
    } finally {
      await relay.cut()
    }
  }
}

export const mysqlSlow: Drill = {
  name: 'mysql-slow',
  run: async () => await withSale({}, { stock: 400 }, async (sale) => {
    await sale.process('all')
    await sale.createEvent()
    const crowd = sale.crowd(60_000, 2000, 10, { paceMs: 20 })
    await sleep(200)
    const brokenAt = Date.now()
    const before = { requests: sale.requests, failed: sale.failed }
    // Another client holds the event's row: every drain transaction waits behind it.
    await sale.env.db.transaction(async (trx) => {
      await trx('seckill_events').where({ id: sale.eventId }).forUpdate().first('id')
      await sleep(5000)
    })
    const during = { requests: sale.requests - before.requests, unanswered: sale.failed - before.failed }
    const repairedAt = Date.now()
    await crowd
    await sale.settle()
    return await sale.verdict({
      name: 'mysql-slow',
      broke: "the event's row locked from another MySQL connection for 5 s mid-sale",
      brokenMs: repairedAt - brokenAt,
      recoverMs: Date.now() - repairedAt,
      extra: [{ what: `buyers were answered while the row was locked (${during.requests} requests, ${during.unanswered} unanswered)`, ok: during.requests > 0 && during.unanswered === 0 }]
    })
  })
}
