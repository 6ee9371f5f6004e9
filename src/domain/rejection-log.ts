/**
 * Remembers in Redis the buyers an ingress answered sold_out from its local flag, so that if units
 * come back later these buyers still get the same answer (I7): they were turned away, like the
 * buyers the gate turned away. Written in batches (one SADD per shard every FLUSH_MS), off the
 * request path, so a sold-out answer still costs no Redis round trip.
 */
import type { Logger } from 'pino'
import type { KeySpace } from '../redis/keys'
import type { RedisClient } from '../redis/scripts'

const FLUSH_MS = 100
/** Beyond this many unwritten answers, more are not remembered (memory stays bounded). */
const MAX_PENDING = 200_000

export class RejectionLog {
  private pending = new Map<string, { eventId: number, shard: number, users: string[] }>()
  private size = 0
  /** `<event>.<shard>:<user>` of answers not yet written (pending or being written). */
  private readonly unwritten = new Set<string>()
  private timer: NodeJS.Timeout | undefined
  private flushing: Promise<void> = Promise.resolve()

  constructor (private readonly redis: RedisClient, private readonly keys: KeySpace, private readonly log: Logger) {}

  record (eventId: number, shard: number, userId: string): void {
    if (this.size >= MAX_PENDING) return
    const tag = `${eventId}.${shard}`
    let entry = this.pending.get(tag)
    if (entry === undefined) {
      entry = { eventId, shard, users: [] }
      this.pending.set(tag, entry)
    }
    entry.users.push(userId)
    this.unwritten.add(`${tag}:${userId}`)
    this.size++
    this.timer ??= setTimeout(() => { void this.flush() }, FLUSH_MS)
  }

  /** Writes what is pending; resolves when everything recorded so far is in Redis. */
  async flush (): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    const batch = this.pending
    this.pending = new Map()
    this.size = 0
    const write = Promise.all([...batch.values()].map(async (e) => {
      await this.redis.sadd(this.keys.shard({ eventId: e.eventId, shard: e.shard }).rejected, ...e.users)
    })).then(() => undefined, (err: unknown) => this.log.warn({ err }, 'recording sold-out answers failed'))
      .finally(() => {
        for (const e of batch.values()) for (const u of e.users) this.unwritten.delete(`${e.eventId}.${e.shard}:${u}`)
      })
    this.flushing = this.flushing.then(async () => await write)
    await this.flushing
  }

  /**
   * True while this buyer's sold-out answer is not yet in Redis. Admission answers such a buyer
   * sold_out again from here: the local flag may have dropped (units came back) before the answer
   * was written, and the gate alone would admit them.
   */
  answeredUnwritten (eventId: number, shard: number, userId: string): boolean {
    return this.unwritten.size > 0 && this.unwritten.has(`${eventId}.${shard}:${userId}`)
  }

  async close (): Promise<void> {
    await this.flush()
  }
}
