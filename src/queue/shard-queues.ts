/**
 * The BullMQ queue of each event shard. A job carries one admitted ticket; its id is the ticket
 * id, so adding it again is a no-op. Jobs carry no options: the drain takes them in batches and
 * deletes each once its ticket is decided (lua/takeJobs), so BullMQ's completion settings never
 * apply, and an add stays as small as BullMQ allows.
 *
 * A Queue object holds listeners on the shared connection and some memory; one per shard ever
 * sold would grow without end. Queues unused for QUEUE_IDLE_MS are closed (a retired sale's, or a
 * quiet one's: it is made again at the next buy, which costs nothing a buyer notices).
 */
import { Queue } from 'bullmq'
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import type { KeySpace, ShardRef } from '../redis/keys'
import { QUEUE_NAME, eventTagStart, shardTag } from '../redis/keys'
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
  /** Queue objects open now. */
  open: () => number
  /** Closes the queues unused for `idleMs` (also done every `idleMs` by itself). */
  closeIdle: () => void
  /** Closes the queue objects of a retired event. */
  release: (eventId: number) => void
  close: () => Promise<void>
}

/** A shard's queue object is closed after this long without a buy. */
const QUEUE_IDLE_MS = 10 * 60_000
/** Bound on open queue objects; past it the least recently used is closed. */
const MAX_QUEUES = 10_000

export function createShardQueues (connection: RedisClient, keys: KeySpace, log: Logger, idleMs = QUEUE_IDLE_MS): ShardQueues {
  const closing = new Set<Promise<void>>()
  const queues = new LRUCache<string, Queue<BuyJobData>>({
    max: MAX_QUEUES,
    ttl: idleMs,
    updateAgeOnGet: true,
    dispose: (q) => {
      const done = q.close().catch((err: unknown) => log.warn({ err, queue: q.opts.prefix }, 'closing an idle queue failed'))
      closing.add(done)
      void done.finally(() => closing.delete(done))
    }
  })
  const sweeper = setInterval(() => queues.purgeStale(), idleMs)
  sweeper.unref()
  const queue = (ref: ShardRef): Queue<BuyJobData> => {
    const prefix = keys.queuePrefix(ref)
    const tag = shardTag(ref)
    let q = queues.get(tag)
    if (q === undefined) {
      q = new Queue<BuyJobData>(QUEUE_NAME, {
        connection,
        prefix,
        // Admission needs no job events; a short stream keeps Redis memory flat under a crowd.
        streams: { events: { maxLen: 100 } }
      })
      q.on('error', (err) => log.warn({ err, queue: prefix }, 'queue error'))
      queues.set(tag, q)
    }
    return q
  }
  return {
    queue,
    async enqueue (ref, ticketId, data) {
      await queue(ref).add('buy', data, { jobId: ticketId })
    },
    open: () => queues.size,
    closeIdle: () => { queues.purgeStale() },
    release (eventId) {
      const mine = eventTagStart(eventId)
      for (const tag of [...queues.keys()]) if (tag.startsWith(mine)) queues.delete(tag)
    },
    async close () {
      clearInterval(sweeper)
      queues.clear()
      await Promise.all([...closing])
    }
  }
}
