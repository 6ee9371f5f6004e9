/**
 * Drill 1: processes killed with SIGKILL mid-sale. Worker processes die several times (their
 * shard leases move to the survivor and back); an ingress dies and its buyers fail over.
 */
import type { Drill } from './harness'
import { sleep, withSale } from './harness'

export const workerKills: Drill = {
  name: 'worker-kill',
  run: async () => await withSale({ DRAIN_BATCH: '25' }, { stock: 600, shards: 2 }, async (sale) => {
    await sale.process('ingress')
    const workers = [await sale.process('worker'), await sale.process('worker')]
    await sale.createEvent()
    const crowd = sale.crowd(10_000, 3000, 20, { paceMs: 10 })
    const brokenAt = Date.now()
    let soldAtFirstKill = -1
    for (let round = 0; round < 3; round++) {
      await sleep(400)
      if (round === 0) soldAtFirstKill = await sale.sold()
      const victim = workers[round % 2]
      if (victim === undefined) continue
      await victim.kill()
      await sleep(300)
      await victim.start()
    }
    const repairedAt = Date.now()
    await crowd
    await sale.settle()
    return await sale.verdict({
      name: 'worker-kill',
      broke: 'a worker process killed with SIGKILL 3 times (restarted 300 ms later each time)',
      brokenMs: repairedAt - brokenAt,
      recoverMs: Date.now() - repairedAt,
      extra: [{ what: `the first kill came mid-sale (${soldAtFirstKill} of ${sale.stock} units sold)`, ok: soldAtFirstKill >= 0 && soldAtFirstKill < sale.stock }]
    })
  })
}

export const ingressKill: Drill = {
  name: 'ingress-kill',
  run: async () => await withSale({}, { stock: 500 }, async (sale) => {
    const doomed = await sale.process('ingress')
    await sale.process('ingress')
    await sale.process('worker')
    await sale.createEvent()
    // Buyers send an Idempotency-Key, so a retry of a buy whose answer was lost gets its ticket.
    const crowd = sale.crowd(20_000, 2500, 20, { idempotencyKey: true, paceMs: 10 })
    await sleep(500)
    const brokenAt = Date.now()
    await doomed.kill()
    await sleep(1000)
    await doomed.start()
    const repairedAt = Date.now()
    await crowd
    await sale.settle()
    return await sale.verdict({
      name: 'ingress-kill',
      broke: 'one of two ingress processes killed with SIGKILL (buyers fail over; restarted 1 s later)',
      brokenMs: repairedAt - brokenAt,
      recoverMs: Date.now() - repairedAt
    })
  })
}
