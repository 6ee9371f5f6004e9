/**
 * Wakes the idle shard drains of one worker process through one subscriber connection, however
 * many shards the worker owns. (Each drain had blocked on BZPOPMIN of its own connection: a Redis
 * connection per live shard, and a wake-up, a take and a read every second per idle shard.)
 *
 * Who rings: the admission script, when it admits a ticket while every earlier one of the shard is
 * decided -- the only moment the shard's drain may be idle -- whoever records units that came
 * back (src/stock/unit-returns.ts), and a sibling's owner that closed its gate. A drain takes its `mark()` before it looks for work and waits
 * only if nothing rang since, so a ring between its look and its wait is not missed.
 *
 * Pub/sub delivers at most once: after the subscriber reconnects every doorbell rings (and its
 * drain looks at the returns signal in Redis), and an idle drain looks for work again after
 * DRAIN_IDLE_WAIT_MS whatever happens. On a Redis Cluster the
 * messages reach the one node the subscriber is connected to (classic pub/sub is cluster-wide).
 */
import type { Logger } from 'pino'
import type { RedisClient } from '../src/redis/scripts'
import { WAKE_RETURNS, WAKE_SOLD_OUT } from '../src/stock'

/** One shard's doorbell, held by its drain while it owns the shard. */
export class Doorbell {
  private rings = 0
  private returns = false
  private soldOutCheck = false
  private missed = false
  private waiter: (() => void) | undefined

  constructor (readonly ready: Promise<void>, private readonly closer: () => Promise<void>) {}

  /** Taken before looking for work: a later wait returns at once if anything rang since. */
  mark (): number {
    return this.rings
  }

  /** Whether units came back since the last call (then cleared). */
  takeReturns (): boolean {
    const r = this.returns
    this.returns = false
    return r
  }

  /** Whether a sibling closed its gate since the last call (then cleared). */
  takeSoldOutCheck (): boolean {
    const c = this.soldOutCheck
    this.soldOutCheck = false
    return c
  }

  /** Until something rings after `mark`, `ms` pass, or `stopped` resolves. */
  async wait (mark: number, ms: number, stopped: Promise<void>): Promise<void> {
    if (this.rings !== mark) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      new Promise<void>((resolve) => { this.waiter = resolve }),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, ms) }),
      stopped
    ])
    clearTimeout(timer)
    this.waiter = undefined
  }

  /**
   * Whether rings may have been lost since the last call (the subscriber reconnected), then
   * cleared: the drain then looks at the shard's returns signal in Redis at once.
   */
  takeMissed (): boolean {
    const m = this.missed
    this.missed = false
    return m
  }

  ring (message: string): void {
    this.rings++
    if (message === WAKE_RETURNS) this.returns = true
    if (message === WAKE_SOLD_OUT) this.soldOutCheck = true
    this.waiter?.()
  }

  /** The subscriber reconnected: whatever rang meanwhile is lost, so the drain looks again. */
  ringMissed (): void {
    this.missed = true
    this.ring('')
  }

  async close (): Promise<void> {
    this.waiter?.()
    await this.closer()
  }
}

export class DrainWaker {
  private readonly doorbells = new Map<string, Doorbell>()
  private connectedOnce = false

  /** `subscriber`: a connection of its own (it can do nothing but subscribe once it has). */
  constructor (private readonly subscriber: RedisClient, private readonly log: Logger) {
    subscriber.on('message', (channel: string, message: string) => this.doorbells.get(channel)?.ring(message))
    subscriber.on('error', (err: Error) => log.warn({ err }, 'drain wake connection error'))
    // Messages sent while it was away are lost: every drain looks for work again.
    subscriber.on('ready', () => {
      if (this.connectedOnce) for (const bell of this.doorbells.values()) bell.ringMissed()
      this.connectedOnce = true
    })
  }

  /** Subscribes to a shard's wake channel; `ready` resolves once the subscription holds. */
  watch (channel: string): Doorbell {
    // A failed subscription leaves the drain its idle wait (DRAIN_IDLE_WAIT_MS) to look again.
    const ready = this.subscriber.subscribe(channel).then(() => undefined, (err: unknown) => this.log.warn({ err, channel }, 'subscribing to a drain wake channel failed'))
    const bell = new Doorbell(ready, async () => {
      if (this.doorbells.get(channel) === bell) this.doorbells.delete(channel)
      await this.subscriber.unsubscribe(channel).catch(() => undefined)
    })
    this.doorbells.set(channel, bell)
    return bell
  }

  async close (): Promise<void> {
    this.doorbells.clear()
    this.subscriber.disconnect()
  }
}
