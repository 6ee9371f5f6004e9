/**
 * Drill 3: the Redis server restarted mid-sale, on its own loopback port.
 *   - with an append-only file (appendfsync everysec) and an orderly restart: nothing admitted is
 *     lost; every ticket ends as if nothing happened;
 *   - without persistence, killed: the service finds the sale gone, rebuilds it from MySQL (the
 *     reconciler's warm-up), and tickets whose state went with Redis read `failed`
 *     (`lost_in_redis`) instead of hanging. Nothing is oversold or sold twice.
 */
import type { Drill } from './harness'
import { sleep, withSale } from './harness'
import { startPrivateRedis } from '../../test/helpers/redis-server'

function redisDrill (aof: boolean): Drill {
  const name = aof ? 'redis-restart-aof' : 'redis-restart-no-persistence'
  return {
    name,
    run: async () => {
      const server = await startPrivateRedis({ aof })
      try {
        return await withSale({ REDIS_URL: server.url, DRAIN_BATCH: '25' }, { stock: 500 }, async (sale) => {
          await sale.process('ingress')
          await sale.process('worker')
          await sale.createEvent()
          // Buyers keep coming through the restart; a refused connection or a 503 is retried.
          const crowd = sale.crowd(40_000, 2500, 20, { patienceMs: 60_000, paceMs: 10 })
          await sleep(700)
          const brokenAt = Date.now()
          await server.restart(aof ? 'SIGTERM' : 'SIGKILL')
          const repairedAt = Date.now()
          await crowd
          await sale.settle()
          return await sale.verdict({
            name,
            broke: aof
              ? 'Redis (append-only file, everysec) shut down and restarted mid-sale'
              : 'Redis (no persistence) killed and restarted empty mid-sale',
            brokenMs: repairedAt - brokenAt,
            recoverMs: Date.now() - repairedAt,
            lostStateOk: !aof
          })
        })
      } finally {
        await server.stop()
      }
    }
  }
}

export const redisRestartAof = redisDrill(true)
export const redisRestartEmpty = redisDrill(false)
