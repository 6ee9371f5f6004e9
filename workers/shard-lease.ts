/**
 * Ownership of a shard's drain: a Redis key holding the owner's token, renewed while the owner
 * lives. When the owner dies the key expires and another worker takes the shard. The drain's
 * scripts check the token, so a former owner that wakes up late changes nothing.
 */
import type { ShardKeys } from '../src/redis/keys'
import type { RedisClient } from '../src/redis/scripts'

export { releaseLease, renewLease } from '../src/redis/commands'

export async function acquireLease (redis: RedisClient, keys: ShardKeys, token: string, ms: number): Promise<boolean> {
  return (await redis.set(keys.lease, token, 'PX', ms, 'NX')) === 'OK'
}
