import { Redis } from 'ioredis'
import type { RedisOptions } from 'ioredis'
import { defineScripts } from './scripts'

export interface RedisClientOptions {
  /** BullMQ's blocking connections need this null; ordinary clients retry a few times. */
  readonly maxRetriesPerRequest?: number | null
  readonly name?: string
}

/**
 * A Redis connection with every product script defined. Auto-pipelining sends the commands of
 * concurrent requests in one write, which is what keeps the admission path at one round trip per
 * buy under a crowd.
 */
export function createRedis (url: string, opts: RedisClientOptions = {}): Redis {
  const options: RedisOptions = {
    enableAutoPipelining: true,
    maxRetriesPerRequest: opts.maxRetriesPerRequest === undefined ? 3 : opts.maxRetriesPerRequest,
    connectionName: opts.name,
    lazyConnect: false
  }
  const client = new Redis(url, options)
  defineScripts(client)
  return client
}
