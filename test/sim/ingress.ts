/**
 * Ingress processes as the simulation runs them (the `writers` model): each has its own memory --
 * the real event cache (src/sale/event-cache.ts: the row, the sold-out flag, the holders) and the
 * sold-out answers it confirms with Redis (src/sale/sold-out-answers.ts) -- its own clock (a skew added to the `now`
 * admission takes), and answers buys with the real admission (src/sale/admission.ts `buy`) on the
 * shared Redis and MySQL. Nothing runs on its own: the cache refreshes and the pub/sub messages
 * are handled when the scheduler says, and the scheduler can land another actor
 * between two of the memory's reads (`memory.arm`, `rows.arm`).
 *
 * The messages: one subscriber collects what every writer publishes on the event-state and catalog
 * channels into each ingress's inbox; `sync` waits until everything published so far has arrived
 * (a marker published after it comes back), so what an inbox holds depends only on the steps run.
 * They are handled as src/app.ts wires them (`deliver`, kept beside it by hand).
 */
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { EventCache } from '../../src/sale/event-cache'
import { SoldOutAnswers } from '../../src/sale/sold-out-answers'
import { buy } from '../../src/sale/admission'
import type { BuyOutcome } from '../../src/sale/admission'
import { DomainError } from '../../src/shared/errors'
import type { EventsRepository } from '../../src/catalog/events'
import type { KeySpace } from '../../src/redis/keys'
import type { RedisClient } from '../../src/redis/scripts'
import { armable, asAnotherProcess } from '../helpers/intercept'
import type { Armable } from '../helpers/intercept'

/** A cached row stays fresh until the scheduler refreshes it. */
const NEVER_STALE = 1e12

export interface Message { readonly channel: 'state' | 'catalog', readonly text: string }

export type IngressAnswer = BuyOutcome | { readonly kind: 'refused', readonly code: string }

export class SimIngress {
  readonly inbox: Message[] = []
  readonly cache: EventCache
  readonly soldOutAnswers: SoldOutAnswers
  /** The Redis the ingress's memory reads (flag, holders); armed on its reads. */
  readonly memory: Armable<RedisClient>
  /** The MySQL rows the event cache reads. */
  readonly rows: Armable<EventsRepository>
  private ttlMs = NEVER_STALE
  /** How admission answered the last buy (`sold_out_local`: from this ingress's memory). */
  lastOutcome: string | undefined

  private readonly redis: RedisClient

  constructor (readonly name: string, shared: RedisClient, private readonly keys: KeySpace,
    private readonly repo: EventsRepository, readonly skewMs: number, private readonly log: Logger) {
    this.redis = asAnotherProcess(shared)
    const redis = this.redis
    this.memory = armable(redis, (m) => ['exists', 'hscan', 'get', 'mget'].includes(m))
    this.rows = armable(repo, (m) => m === 'findByIds')
    this.soldOutAnswers = new SoldOutAnswers(redis, keys, log)
    const self = this
    this.cache = new EventCache({
      repo: this.rows.proxy,
      sale: { redis: this.memory.proxy, keys },
      get ttlMs () { return self.ttlMs },
      log
    })
  }

  /** This process's clock. */
  now (): number {
    return Date.now() + this.skewMs
  }

  async buy (eventId: number, userId: string): Promise<IngressAnswer> {
    this.lastOutcome = undefined
    try {
      return await buy({
        redis: this.redis,
        keys: this.keys,
        events: this.cache,
        repo: this.repo,
        overbook: 1.5,
        rateLimit: { max: 1_000_000, timeWindow: 60_000 },
        log: this.log,
        soldOutAnswers: this.soldOutAnswers,
        onOutcome: (outcome) => { this.lastOutcome = outcome }
      }, eventId, userId, undefined, this.now())
    } catch (err) {
      if (err instanceof DomainError) return { kind: 'refused', code: err.code }
      throw err
    }
  }

  /** The cached row runs out: the next read refreshes it (flag and holders checked against Redis). */
  async refresh (eventId: number): Promise<void> {
    this.ttlMs = 0
    const answer = this.cache.get(eventId)
    this.ttlMs = NEVER_STALE
    await answer
    const loading = (this.cache as unknown as { loading: Map<number, Promise<unknown>> }).loading
    if (!(loading instanceof Map)) throw new Error('EventCache has no `loading` map any more: adapt test/sim/ingress.ts')
    await loading.get(eventId)?.catch(() => undefined)
  }

  /** Handles one message as src/app.ts's listener does, awaiting what it starts. */
  async deliver (m: Message): Promise<void> {
    if (m.channel === 'catalog') {
      if (m.text.startsWith('event:')) this.cache.forget(Number(m.text.slice(6)))
      return
    }
    const [id, state] = m.text.split(':')
    const eventId = Number(id)
    if (state === '1') await this.cache.markSoldOut(eventId).catch((err: unknown) => this.log.warn({ err }, 'loading holders failed'))
    else if (state === '0') this.cache.clearSoldOut(eventId)
    else if (state === 'retired') this.cache.forget(eventId)
  }

  close (): void {
    this.cache.close()
    this.soldOutAnswers.close()
  }
}

/** Collects the messages of one event for every ingress; `sync` waits for all published so far. */
export class SimBus {
  private readonly sub: Redis
  private seq = 0
  private readonly markers = new Map<string, () => void>()
  eventId = 0
  ingresses: readonly SimIngress[] = []

  constructor (private readonly redis: Redis, private readonly keys: KeySpace) {
    this.sub = redis.duplicate()
  }

  async start (): Promise<void> {
    this.sub.on('message', (channel: string, text: string) => {
      if (text.startsWith('sim:')) {
        this.markers.get(text)?.()
        this.markers.delete(text)
        return
      }
      const state = channel === this.keys.eventStateChannel
      const id = state ? Number(text.split(':')[0]) : text.startsWith('event:') ? Number(text.slice(6)) : NaN
      if (id !== this.eventId) return
      for (const i of this.ingresses) i.inbox.push({ channel: state ? 'state' : 'catalog', text })
    })
    await this.sub.subscribe(this.keys.eventStateChannel, this.keys.catalogChannel)
  }

  async sync (): Promise<void> {
    const marker = `sim:${++this.seq}`
    const seen = new Promise<void>((resolve) => this.markers.set(marker, resolve))
    await this.redis.publish(this.keys.eventStateChannel, marker)
    await seen
  }

  async close (): Promise<void> {
    await this.sub.quit().catch(() => this.sub.disconnect())
  }
}
