/**
 * The BullMQ queue of each event shard. A job carries one admitted ticket; its id is the ticket
 * id, so adding it again is a no-op. Jobs carry no options: the drain takes them in batches and
 * deletes each once its ticket is decided (lua/takeJobs), so BullMQ's completion settings never
 * apply, and an add stays as small as BullMQ allows.
 */
import { Queue } from 'bullmq'
import type { Logger } from 'pino'
import type { KeySpace, ShardRef } from '../redis/keys'
import { QUEUE_NAME } from '../redis/keys'
import type { RedisClient } from '../redis/scripts'

/**
 * Payload of a buy job: the buyer and the ticket's queue position in its shard, for people looking
 * at the queue. The drain itself reads the position from the job id and the buyer from the stored
 * ticket.
 */
export interface BuyJobData {
  readonly u: string
  readonly q: number
}

export interface ShardQueues {
  enqueue: (ref: ShardRef, ticketId: string, data: BuyJobData) => Promise<void>
  queue: (ref: ShardRef) => Queue<BuyJobData>
  close: () => Promise<void>
}

export function createShardQueues (connection: RedisClient, keys: KeySpace, log: Logger): ShardQueues {
  const queues = new Map<string, Queue<BuyJobData>>()
  const queue = (ref: ShardRef): Queue<BuyJobData> => {
    const prefix = keys.queuePrefix(ref)
    let q = queues.get(prefix)
    if (q === undefined) {
      q = new Queue<BuyJobData>(QUEUE_NAME, {
        connection,
        prefix,
        // Admission needs no job events; a short stream keeps Redis memory flat under a crowd.
        streams: { events: { maxLen: 100 } }
      })
      q.on('error', (err) => log.warn({ err, queue: prefix }, 'queue error'))
      queues.set(prefix, q)
    }
    return q
  }
  return {
    queue,
    async enqueue (ref, ticketId, data) {
      await queue(ref).add('buy', data, { jobId: ticketId })
    },
    async close () {
      await Promise.all([...queues.values()].map(async (q) => await q.close()))
      queues.clear()
    }
  }
}
