/**
 * Ownership of a shard's drain: a Redis key holding the owner's token, renewed while the owner
 * lives. When the owner dies the key expires and another worker takes the shard. The drain's
 * scripts check the token, so a former owner that wakes up late changes nothing.
 */
import type { ShardKeys } from '../src/redis/keys'
import { runScript } from '../src/redis/scripts'
import type { RedisClient } from '../src/redis/scripts'

export async function acquireLease (redis: RedisClient, keys: ShardKeys, token: string, ms: number): Promise<boolean> {
  return (await redis.set(keys.lease, token, 'PX', ms, 'NX')) === 'OK'
}

export async function renewLease (redis: RedisClient, keys: ShardKeys, token: string, ms: number): Promise<boolean> {
  return (await runScript(redis, 'renewLease', [keys.lease], [token, ms])) === 1
}

export async function releaseLease (redis: RedisClient, keys: ShardKeys, token: string): Promise<boolean> {
  return (await runScript(redis, 'releaseLease', [keys.lease], [token])) === 1
}
