/**
 * Sold-out answers an ingress gives from its memory of a sold-out sale, confirmed by Redis before
 * they are given. The memory (the event cache's flag and holders) only says an answer is likely
 * sold_out; lua/confirmSoldOut records the buyer as turned away, as the gate does, only while the
 * shard's gate is closed. So a memory that missed a reopening never turns a buyer away for good,
 * and a buyer told sold_out by one ingress is written down before any other ingress can admit
 * them (I7 across ingresses).
 *
 * Requests are confirmed in batches, one script call per shard in flight at a time: the buyers
 * who arrive while a call is out go together in the next. Under a crowd the cost per answer is a
 * share of one round trip; alone, an answer waits for one round trip.
 *
 * Never answers sold_out on its own: an error or a full queue confirms nobody, and those buyers go
 * through admission, which answers them or fails loudly.
 */
import type { Logger } from 'pino'
import type { KeySpace, ShardKeys } from '../redis/keys'
import type { RedisClient } from '../redis/scripts'
import { confirmSoldOut } from '../redis/commands'

/** Most buyers in one script call. */
const MAX_BATCH = 1000
/** Most buyers waiting for a confirmation in the process; past it, admission answers them. */
const MAX_WAITING = 100_000

interface Waiting {
  readonly userId: string
  readonly resolve: (confirmed: boolean) => void
}

interface ShardLine {
  readonly k: ShardKeys
  readonly waiting: Waiting[]
  flying: boolean
  scheduled: boolean
}

export class SoldOutAnswers {
  private readonly lines = new Map<string, ShardLine>()
  private waiting = 0
  private closed = false

  constructor (private readonly redis: RedisClient, private readonly keys: KeySpace, private readonly log: Logger) {}

  /** True once Redis recorded the buyer as turned away with the shard's gate closed. */
  async confirm (eventId: number, shard: number, userId: string): Promise<boolean> {
    if (this.closed || this.waiting >= MAX_WAITING) return false
    const k = this.keys.shard({ eventId, shard })
    let line = this.lines.get(k.tag)
    if (line === undefined) {
      line = { k, waiting: [], flying: false, scheduled: false }
      this.lines.set(k.tag, line)
    }
    const l = line
    this.waiting++
    const answer = new Promise<boolean>((resolve) => { l.waiting.push({ userId, resolve }) })
    this.schedule(l)
    return await answer
  }

  private schedule (line: ShardLine): void {
    if (line.flying || line.scheduled) return
    line.scheduled = true
    // After the requests of this turn of the event loop have joined the batch.
    setImmediate(() => {
      line.scheduled = false
      void this.send(line)
    })
  }

  private async send (line: ShardLine): Promise<void> {
    const batch = line.waiting.splice(0, MAX_BATCH)
    if (batch.length === 0) {
      this.lines.delete(line.k.tag)
      return
    }
    line.flying = true
    let confirmed: boolean[] = []
    try {
      confirmed = await confirmSoldOut(this.redis, line.k, batch.map((w) => w.userId))
    } catch (err) {
      this.log.warn({ err, shard: line.k.tag, buyers: batch.length }, 'confirming sold-out answers failed; those buyers go through admission')
    }
    this.waiting -= batch.length
    batch.forEach((w, i) => w.resolve(confirmed[i] === true))
    line.flying = false
    if (line.waiting.length > 0) this.schedule(line)
    else this.lines.delete(line.k.tag)
  }

  /** Confirms nothing more; answers those waiting (admission takes them). */
  close (): void {
    this.closed = true
    for (const line of this.lines.values()) {
      if (line.flying) continue
      for (const w of line.waiting.splice(0)) {
        this.waiting--
        w.resolve(false)
      }
    }
  }
}
