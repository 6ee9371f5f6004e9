/**
 * The drain's pace as last measured, across sales (Redis `drain-pace`, written by the drains every
 * few seconds while they work): a ticket in a line whose shard has not measured its own pace yet
 * gets its wait from it, instead of from a guess. Read at most once per few seconds per process.
 */
import type { RedisClient } from '../redis/scripts'
import type { KeySpace } from '../redis/keys'

const FRESH_MS = 5000

export class DrainPace {
  private value: number | undefined
  private readAt = 0
  private reading: Promise<number | undefined> | undefined

  constructor (private readonly redis: RedisClient, private readonly keys: KeySpace) {}

  /** Tickets per second, or undefined when no drain has ever measured one here. */
  async get (now = Date.now()): Promise<number | undefined> {
    // No pace yet is asked about again sooner: the first drain's is wanted as soon as it exists.
    if (now - this.readAt < (this.value === undefined ? FRESH_MS / 5 : FRESH_MS)) return this.value
    this.reading ??= this.redis.get(this.keys.drainPace).then((v) => {
      const n = v === null ? NaN : Number(v)
      this.value = Number.isFinite(n) && n > 0 ? n : undefined
      this.readAt = Date.now()
      return this.value
    }).catch(() => this.value).finally(() => { this.reading = undefined })
    return await this.reading
  }
}
