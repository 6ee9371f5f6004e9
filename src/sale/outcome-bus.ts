/**
 * Listens to the drains' outcome messages and the sold-out announcements on one subscriber
 * connection, and wakes the long-polls waiting on the tickets that changed, handing each the
 * outcome the message carries.
 */
import type { RedisClient } from '../redis/scripts'
import type { Logger } from 'pino'
import type { KeySpace } from '../redis/keys'
import { TICKET_STATUSES } from './tickets'
import type { TicketStatus } from './tickets'

/** A ticket's new state as the drain announced it. */
export interface Outcome {
  readonly status: TicketStatus
  readonly detail: string
}

export interface Waiter {
  /** The ticket's outcome when the drain announced one; undefined on timeout or cancel. */
  readonly changed: Promise<Outcome | undefined>
  cancel: () => void
}

type Wake = (outcome?: Outcome) => void

export interface EventStateListener {
  onSoldOut: (eventId: number) => void
  onReopened: (eventId: number) => void
  /** The event is over, decided and retired: what the ingress kept for it can go. */
  onRetired: (eventId: number) => void
  onCatalogChanged: (what: string) => void
}

/** Why a long-poll may not wait: the buyer has its share waiting already, or the ingress is full. */
export type WaitRefusal = 'buyer_limit' | 'ingress_full'

/** Bounds on waiting long-polls (each holds a socket and a file descriptor). */
export interface WaitLimits {
  /** Long-polls waiting in this process; past it a poll is refused (503 with Retry-After). */
  readonly maxWaiting: number
  /** Long-polls one buyer may have waiting at once; past it a poll is answered at once. */
  readonly perBuyer: number
}

/** A warning is logged when the waiting long-polls reach this share of the cap (again once below the lower one). */
const NEAR_FULL = 0.8
const CALM_AGAIN = 0.7

export class OutcomeBus {
  private readonly waiters = new Map<string, Set<Wake>>()
  private readonly perBuyer = new Map<string, number>()
  private count = 0
  private warned = false

  constructor (
    private readonly subscriber: RedisClient,
    private readonly keys: KeySpace,
    private readonly listener: EventStateListener,
    private readonly log: Logger,
    readonly limits: WaitLimits = { maxWaiting: 10_000, perBuyer: 3 }
  ) {}

  async start (): Promise<void> {
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.keys.outcomeChannel) this.onOutcome(message)
      else if (channel === this.keys.eventStateChannel) this.onEventState(message)
      else if (channel === this.keys.catalogChannel) this.listener.onCatalogChanged(message)
    })
    await this.subscriber.subscribe(this.keys.outcomeChannel, this.keys.eventStateChannel, this.keys.catalogChannel)
  }

  get waiting (): number {
    return this.count
  }

  /**
   * Resolves when the ticket changes or after `ms`. Register before reading the ticket, so a
   * change between the read and the wait is not missed. Refused when the buyer already has its
   * share waiting, or the process its cap.
   */
  wait (ticketId: string, ms: number, buyer: string): Waiter | WaitRefusal {
    if (this.count >= this.limits.maxWaiting) return 'ingress_full'
    const mine = this.perBuyer.get(buyer) ?? 0
    if (mine >= this.limits.perBuyer) return 'buyer_limit'
    this.perBuyer.set(buyer, mine + 1)
    this.countChanged(+1)
    let wake!: Wake
    let timer: NodeJS.Timeout | undefined
    const changed = new Promise<Outcome | undefined>((resolve) => {
      wake = resolve
      timer = setTimeout(() => resolve(undefined), ms)
    })
    let set = this.waiters.get(ticketId)
    if (set === undefined) {
      set = new Set()
      this.waiters.set(ticketId, set)
    }
    set.add(wake)
    let cancelled = false
    return {
      changed,
      cancel: () => {
        if (cancelled) return
        cancelled = true
        clearTimeout(timer)
        const s = this.waiters.get(ticketId)
        s?.delete(wake)
        if (s !== undefined && s.size === 0) this.waiters.delete(ticketId)
        const left = (this.perBuyer.get(buyer) ?? 1) - 1
        if (left > 0) this.perBuyer.set(buyer, left)
        else this.perBuyer.delete(buyer)
        this.countChanged(-1)
        wake(undefined)
      }
    }
  }

  private countChanged (by: number): void {
    this.count += by
    const share = this.count / this.limits.maxWaiting
    if (!this.warned && share >= NEAR_FULL) {
      this.warned = true
      this.log.warn({ waiting: this.count, max: this.limits.maxWaiting }, 'long-polls near the cap (MAX_WAITING): new ones will get 503; add ingress processes or raise the cap with the file-descriptor limit')
    } else if (this.warned && share < CALM_AGAIN) {
      this.warned = false
    }
  }

  /**
   * Message `e<event>.<shard>:q1=status[/detail],q2=…` — wakes waiters of tickets
   * `<event>-<shard>-q` with their outcome (a bare `q` wakes them to read the ticket themselves).
   */
  private onOutcome (message: string): void {
    const colon = message.indexOf(':')
    if (colon < 2 || message[0] !== 'e') return
    const prefix = message.slice(1, colon).replace('.', '-') + '-'
    for (const entry of message.slice(colon + 1).split(',')) {
      const eq = entry.indexOf('=')
      const set = this.waiters.get(prefix + (eq < 0 ? entry : entry.slice(0, eq)))
      if (set === undefined) continue
      const outcome = eq < 0 ? undefined : parseOutcome(entry.slice(eq + 1))
      for (const wake of set) wake(outcome)
    }
  }

  /** Message `<event>:1` (sold out), `<event>:0` (units came back) or `<event>:retired`. */
  private onEventState (message: string): void {
    const [id, state] = message.split(':')
    const eventId = Number(id)
    if (!Number.isSafeInteger(eventId)) return
    if (state === '1') this.listener.onSoldOut(eventId)
    else if (state === '0') this.listener.onReopened(eventId)
    else if (state === 'retired') this.listener.onRetired(eventId)
    else this.log.warn({ message }, 'unknown event-state message')
  }

  /**
   * Ends every wait now (each long-poll then answers with its ticket as it is), keeping the
   * subscription: a stopping ingress lets its waiting clients go at once instead of holding its
   * stop for their whole wait.
   */
  release (): void {
    for (const set of [...this.waiters.values()]) for (const wake of [...set]) wake(undefined)
  }

  async close (): Promise<void> {
    this.release()
    this.waiters.clear()
    this.perBuyer.clear()
    this.count = 0
    await this.subscriber.quit().catch(() => undefined)
  }
}

function parseOutcome (text: string): Outcome | undefined {
  const slash = text.indexOf('/')
  const status = (slash < 0 ? text : text.slice(0, slash)) as TicketStatus
  if (!TICKET_STATUSES.includes(status)) return undefined
  return { status, detail: slash < 0 ? '' : text.slice(slash + 1) }
}
