/**
 * Drill: a Redis Cluster master killed mid-sale. A local cluster of 3 masters with a replica each
 * (node timeout 1 s); while the crowd buys, the master holding the sale's first shard is killed
 * with SIGKILL and its replica takes over. Replication is asynchronous, so the replica may lack
 * the master's last writes: the service notices the shard on another node, forgets it and
 * rebuilds it from MySQL (lua/resetMovedShard). Tickets whose state went with it read `failed`
 * (`lost_in_redis`); they are counted, and their buyers buy again. Verdict: 0 oversold, 0
 * duplicated, every ticket final, and the time from the kill until every ticket was final.
 */
import type { Drill } from './harness'
import { sleep, withSale } from './harness'
import { startLocalCluster } from '../../test/helpers/redis-cluster'

const NAME = 'redis-failover'

export const redisFailover: Drill = {
  name: NAME,
  run: async () => {
    const cluster = await startLocalCluster(3, 1, 1000)
    try {
      const settings = { REDIS_URL: `redis://${cluster.nodes[0] ?? ''}`, REDIS_CLUSTER_NODES: cluster.nodes.join(','), DRAIN_BATCH: '25' }
      return await withSale(settings, { stock: 500, shards: 3 }, async (sale) => {
        await sale.process('ingress')
        await sale.process('worker')
        await sale.createEvent()
        const k = sale.env.keys.shard({ eventId: sale.eventId, shard: 0 })
        // Buyers keep coming through the failover; a refused connection or a 503 is retried.
        const crowd = sale.crowd(40_000, 2500, 20, { patienceMs: 60_000, paceMs: 10 })
        await sleep(700)
        const master = cluster.masterOf(k.stock)
        const replica = cluster.replicaOf(master)
        const killedAt = Date.now()
        cluster.kill(master)
        const promoted = await cluster.waitForNewMaster(k.stock, master, 60_000)
        const promotedAt = Date.now()
        await crowd
        await sale.settle()

        // Tickets the failover took: read back, counted; their buyers buy again (a new ticket each).
        const lost: Array<{ user: string, ticket: string }> = []
        for (const b of sale.buyers.values()) {
          for (const ticket of b.tickets) {
            const r = await sale.http().request('GET', `/api/v1/tickets/${ticket}`, { token: sale.env.token(b.user) })
            if (r.body.data?.status === 'failed' && r.body.data?.reason === 'lost_in_redis') lost.push({ user: b.user, ticket })
          }
        }
        let boughtAgain = 0
        for (const l of lost) {
          const r = await sale.http().request('POST', `/api/v1/events/${sale.eventId}/buy`, { token: sale.env.token(l.user) })
          if ((r.status === 200 || r.status === 202) && r.body.data.ticket_id !== l.ticket) boughtAgain++
        }
        await sale.settle()
        return await sale.verdict({
          name: NAME,
          broke: `the Redis Cluster master holding a shard of the sale (3 masters, a replica each) killed with SIGKILL mid-sale; its replica took over ${((promotedAt - killedAt) / 1000).toFixed(1)} s later`,
          brokenMs: promotedAt - killedAt,
          recoverMs: Date.now() - promotedAt,
          lostStateOk: true,
          extra: [
            { what: `the replica took over (${replica} for ${master}; the cluster names ${promoted})`, ok: promoted === replica },
            { what: `${lost.length} tickets whose state the failover took read failed (lost_in_redis); ${boughtAgain} of their buyers bought again and got a new ticket`, ok: boughtAgain === lost.length }
          ]
        })
      })
    } finally {
      await cluster.stop()
    }
  }
}
