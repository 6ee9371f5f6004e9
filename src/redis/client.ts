import { Cluster, Redis } from 'ioredis'
import type { ClusterNode, RedisOptions } from 'ioredis'
import { defineScripts } from './scripts'
import type { RedisClient } from './scripts'

export interface RedisTarget {
  /** A single Redis server. */
  readonly url: string
  /** Seed nodes of a Redis Cluster ("host:port"); when given, `url` only supplies credentials. */
  readonly clusterNodes?: readonly string[]
}

export interface RedisClientOptions {
  /** BullMQ's blocking connections need this null; ordinary clients retry a few times. */
  readonly maxRetriesPerRequest?: number | null
  readonly name?: string
}

/** A Cluster seed node from "host:port". */
export function parseNode (node: string): ClusterNode {
  const i = node.lastIndexOf(':')
  return { host: node.slice(0, i), port: Number(node.slice(i + 1)) }
}

/** The credentials a Cluster's connections use, taken from the Redis URL. */
export function urlCredentials (url: string): { username: string | undefined, password: string | undefined } {
  const u = new URL(url)
  return { username: u.username === '' ? undefined : decodeURIComponent(u.username), password: u.password === '' ? undefined : decodeURIComponent(u.password) }
}

/**
 * A connection (to one server or to a cluster) with every product script defined.
 * Auto-pipelining sends the commands of concurrent requests in one write. That is what keeps the
 * admission path at one round trip per buy under a crowd.
 */
export function createRedisClient (target: RedisTarget, opts: RedisClientOptions = {}): RedisClient {
  const options: RedisOptions = {
    maxRetriesPerRequest: opts.maxRetriesPerRequest === undefined ? 3 : opts.maxRetriesPerRequest,
    connectionName: opts.name
  }
  let client: RedisClient
  if (target.clusterNodes !== undefined && target.clusterNodes.length > 0) {
    // No auto-pipelining on a Cluster: under load a cluster auto-pipeline's reply came back short
    // and ioredis threw from its callback ("results[i] is not iterable", an uncaught exception
    // that ended the process; seen in a loaded CI run of the Cluster test, and reported as
    // redis/ioredis#1931 and #2109). Each command goes to its node directly.
    client = new Cluster(target.clusterNodes.map(parseNode), {
      enableAutoPipelining: false,
      redisOptions: { ...options, ...urlCredentials(target.url) }
    })
  } else {
    client = new Redis(target.url, { ...options, enableAutoPipelining: true })
  }
  defineScripts(client)
  return client
}

/**
 * Another connection like `client`, named (CLIENT SETNAME, kept across reconnects) so an operator's
 * CLIENT LIST shows what it is for, e.g. which shard drain is blocked waiting for work.
 */
export function duplicateNamed (client: RedisClient, name: string): RedisClient {
  if (client instanceof Cluster) return client.duplicate(undefined, { redisOptions: { ...client.options.redisOptions, connectionName: name } }) as RedisClient
  return client.duplicate({ connectionName: name }) as RedisClient
}

/** A connection to a single server (tools and tests that never talk to a cluster). */
export function createRedis (url: string, opts: RedisClientOptions = {}): Redis {
  return createRedisClient({ url }, opts) as Redis
}

/** Deletes every key starting with `prefix` (a whole deployment's or test's keys) from one server. */
export async function deleteKeysWithPrefix (redis: Redis, prefix: string): Promise<number> {
  let cursor = '0'
  let deleted = 0
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    if (found.length > 0) deleted += await redis.unlink(...found)
    cursor = next
  } while (cursor !== '0')
  return deleted
}
