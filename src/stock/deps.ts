/** What every writer in the stock module works with: the Redis client and the key builder. */
import type { KeySpace } from '../redis/keys'
import type { RedisClient } from '../redis/scripts'

export interface SaleStateDeps {
  readonly redis: RedisClient
  readonly keys: KeySpace
}
