/**
 * Notices Redis Cluster failovers under the shards of live sales. A replica promoted in place of
 * a failed master may lack the master's last writes (replication is asynchronous), so a shard on
 * a node other than the one it was warmed on is forgotten and rebuilt from MySQL
 * (lua/resetMovedShard, then warmEvent), before a queue position could be handed out twice.
 *
 * The ingress notices it too, on the first buy that reaches the moved shard (lua/admitBuyer
 * answers -5); this watch covers shards nobody buys from, and it is what rebuilds them promptly.
 * One CLUSTER SLOTS per round tells which slots changed master; only their shards are looked at
 * (the script compares the node a shard was warmed on with its node now, so a slot looked at
 * twice, or by two workers, is reset once).
 */
import calculateSlot from 'cluster-key-slot'
import type { Cluster } from 'ioredis'
import type { KeySpace, ShardRef } from '../src/redis/keys'
import type { RedisClient } from '../src/redis/scripts'
import { resetMovedShard } from '../src/stock'

type SlotsReply = Array<[number, number, [string, number, string, ...unknown[]], ...unknown[]]>

export class FailoverWatch {
  /** Slot -> the master node id under which its live shards were last looked at. */
  private readonly checked = new Map<number, string>()

  constructor (private readonly redis: RedisClient, private readonly keys: KeySpace) {}

  /** Resets the live shards whose node changed; returns them. */
  async check (live: readonly ShardRef[]): Promise<ShardRef[]> {
    const ranges = await (this.redis as Cluster).cluster('SLOTS') as unknown as SlotsReply
    const masterOf = (slot: number): string | undefined => ranges.find(([from, to]) => slot >= from && slot <= to)?.[2][2]
    const reset: ShardRef[] = []
    const bySlot = new Map<number, ShardRef[]>()
    for (const ref of live) {
      const slot = calculateSlot(this.keys.shard(ref).stock)
      bySlot.set(slot, [...(bySlot.get(slot) ?? []), ref])
    }
    for (const [slot, refs] of bySlot) {
      const master = masterOf(slot)
      if (master === undefined || this.checked.get(slot) === master) continue
      for (const ref of refs) if (await resetMovedShard(this.redis, this.keys.shard(ref))) reset.push(ref)
      // Only once every shard of the slot was looked at: a failed look is tried again next round.
      this.checked.set(slot, master)
    }
    return reset
  }
}
