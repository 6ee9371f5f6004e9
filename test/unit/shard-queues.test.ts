// The ingress's queue objects are bounded: a shard's BullMQ Queue (listeners on the shared
// connection, memory) is closed once unused for the idle time, and made again at the next buy.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { createLogger } from '../../src/logger'
import { createShardQueues } from '../../src/queue/shard-queues'
import { queuedTicketId } from '../../src/domain/tickets'
import { testEnv } from '../helpers/env'

t.test('queues of shards nobody buys from are closed, their listeners removed; a later buy opens one again', async (t) => {
  const env = await testEnv(t)
  const connection = env.redis.duplicate()
  env.defer(() => { connection.disconnect() })
  const IDLE_MS = 200
  const queues = createShardQueues(connection, env.keys, createLogger('silent', 'test'), IDLE_MS)
  env.defer(async () => { await queues.close() })
  const listeners = (): number => connection.listenerCount('error')
  const before = listeners()

  for (let eventId = 1; eventId <= 20; eventId++) {
    await queues.enqueue({ eventId, shard: 0 }, queuedTicketId(eventId, 0, 1), { u: '7', q: 1 })
  }
  t.equal(queues.open(), 20, 'one queue object per shard sold')
  t.ok(listeners() >= before + 20, 'each with its listeners on the connection')

  await sleep(IDLE_MS + 50) // past the idle time of every queue
  await queues.enqueue({ eventId: 1, shard: 0 }, queuedTicketId(1, 0, 2), { u: '8', q: 2 })
  queues.closeIdle()
  t.equal(queues.open(), 1, 'only the shard bought from again keeps its queue')
  await queues.close()
  t.equal(listeners(), before, 'closed queues leave no listener behind')
  t.equal(await env.redis.exists(`${env.keys.queuePrefix({ eventId: 1, shard: 0 })}:buy:${queuedTicketId(1, 0, 2)}`), 1, 'and the jobs are in Redis')
})
