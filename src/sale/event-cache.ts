/**
 * The ingress's view of events: rows from MySQL kept for a short time, and the process-local
 * sold-out flag with the set of users who hold a ticket. It is a cache of Redis, never the last
 * word: with the flag up, a buyer who holds no ticket is answered sold_out once Redis confirms it
 * (src/sale/sold-out-answers.ts); a holder still gets their own ticket.
 *
 * A reopening (units came back) always wins over a sold-out flag read before it: every reopening
 * moves the event's reopen count, and a flag raised from a reading (a refresh, or the holders'
 * load after a sold-out announcement, which can take long for a large sale) that began before the
 * last reopening is not raised.
 */
import type { Logger } from 'pino'
import { LRUCache } from 'lru-cache'
import type { EventsRepository } from '../catalog'
import type { SaleEvent } from '../shared/sale-event'
import type { SaleStateDeps } from '../stock'
import { isDeclaredSoldOut, loadHolders } from '../stock'

export interface CachedEvent {
  readonly event: SaleEvent
  /** Set once the event is declared sold out and its holders are loaded. */
  holders: Set<string> | undefined
}

interface Entry {
  value: CachedEvent | undefined
  loadedAt: number
  /** Read since it was last loaded: a refresh of another event refreshes this one with it. */
  read: boolean
}

export interface EventCacheDeps {
  readonly repo: EventsRepository
  readonly sale: SaleStateDeps
  readonly ttlMs: number
  readonly log: Logger
  /** An entry unread this long is dropped (default EVENT_IDLE_MS). */
  readonly idleMs?: number
  /** The clock idle time is measured on (default `performance`); tests move their own. */
  readonly idleClock?: { now: () => number }
}

/**
 * An event's entry -- its row and, for a sold-out sale, the set of its holders, which can be
 * large -- is dropped after this long unread, so the ingress's memory does not grow with every
 * sale it ever served.
 */
const EVENT_IDLE_MS = 10 * 60_000
/** Bound on entries; past it the least recently read goes. */
const MAX_EVENTS = 10_000
/** Most rows read in one refresh statement. */
const MAX_REFRESH = 500

export class EventCache {
  private readonly entries: LRUCache<number, Entry>
  private readonly loading = new Map<number, Promise<CachedEvent | undefined>>()
  /** Reopenings heard per event (bounded like the entries; a missing count reads 0). */
  private readonly reopens = new LRUCache<number, number>({ max: MAX_EVENTS })
  private readonly sweeper: NodeJS.Timeout
  /** When a refresh last looked through the entries for others to take along (ms). */
  private lastWalkAt = Number.NEGATIVE_INFINITY

  constructor (private readonly deps: EventCacheDeps) {
    const idleMs = deps.idleMs ?? EVENT_IDLE_MS
    this.entries = new LRUCache<number, Entry>({ max: MAX_EVENTS, ttl: idleMs, updateAgeOnGet: true, ...(deps.idleClock !== undefined ? { perf: deps.idleClock, ttlResolution: 0 } : {}) })
    this.sweeper = setInterval(() => this.entries.purgeStale(), idleMs)
    this.sweeper.unref()
  }

  /** Stops the idle sweep (the process's ingress is closing). */
  close (): void {
    clearInterval(this.sweeper)
    this.entries.clear()
  }

  /** Events held now (rows and sold-out holder sets). */
  get size (): number {
    return this.entries.size
  }

  /** Drops the entries unread for the idle time now (also done every idle time by itself). */
  dropIdle (): void {
    this.entries.purgeStale()
  }

  /**
   * The event, or undefined when there is none. Unknown ids are remembered briefly too. A stale
   * entry answers at once while it refreshes; with `fresh`, the caller waits for that refresh
   * (one query per ttl whoever waits; the stale row if MySQL fails), so a row shown to people is
   * never older than the ttl.
   */
  async get (id: number, fresh = false): Promise<CachedEvent | undefined> {
    const entry = this.entries.get(id)
    if (entry !== undefined) {
      entry.read = true
      if (Date.now() - entry.loadedAt < this.deps.ttlMs) return entry.value
    }
    const p = this.loading.get(id) ?? this.refresh(id, entry)
    // A stale entry keeps answering while it refreshes; only a first load waits.
    if (entry !== undefined) return fresh ? await p.then((v) => v, () => entry.value) : entry.value
    return await p
  }

  /**
   * Loads the event's row, and with it the rows of every other event read since its last load
   * whose entry is past half its ttl, in one statement. Once a second each sale's row went stale
   * on its own and was read by a statement of its own: with 50 sales live, 50 statements a second
   * and 8 % of the ingress's CPU in the crowd (bench:many, CPU profile). Refreshed together, the
   * entries go stale together and the next refresh takes them all again.
   */
  private refresh (id: number, entry: Entry | undefined): Promise<CachedEvent | undefined> {
    const due: Array<[number, Entry | undefined]> = [[id, entry]]
    // Only a held event's refresh looks for others, and at most once per half ttl: a first load
    // or an unknown id (remembered as none) reads its own row, so ids that are read one by one
    // cannot each cost a walk over every entry (up to MAX_EVENTS). Entries past half their ttl
    // that a skipped walk missed are taken by the next one.
    const now = Date.now()
    const halfStale = now - this.deps.ttlMs / 2
    if (entry?.value !== undefined && this.lastWalkAt <= halfStale) {
      this.lastWalkAt = now
      for (const [other, e] of this.entries.entries()) {
        if (due.length >= MAX_REFRESH) break
        if (other !== id && e.read && e.value !== undefined && e.loadedAt <= halfStale && !this.loading.has(other)) due.push([other, e])
      }
    }
    // Each event's reopen count before its row is read (see load).
    const started = due.map(([i, e]) => {
      if (e !== undefined) e.read = false
      return { id: i, entry: e, reopened: this.reopenCount(i) }
    })
    const rows = this.deps.repo.findByIds(due.map(([i]) => i))
    let statementFailed: unknown
    rows.catch((err: unknown) => {
      statementFailed = err
      // MySQL is away: the stale rows keep answering (set below), logged once for the statement.
      if (due.some(([, e]) => e !== undefined)) this.deps.log.warn({ err, eventIds: due.map(([i]) => i) }, 'event refresh failed; serving the cached rows')
    })
    let mine: Promise<CachedEvent | undefined> | undefined
    for (const s of started) {
      // Still this event's load? A forget() meanwhile (the event changed) drops it: what it read
      // may be older than the change, and the next read loads the event anew.
      const current = (): boolean => this.loading.get(s.id) === p
      const p: Promise<CachedEvent | undefined> = rows.then(async (found) => await this.load(s.id, found.get(s.id), s.entry?.value, s.reopened, current))
        .finally(() => { if (current()) this.loading.delete(s.id) })
      this.loading.set(s.id, p)
      p.catch((err: unknown) => {
        if (s.entry === undefined) return
        // Try again after another ttl rather than on every request.
        s.entry.loadedAt = Date.now()
        // Redis failed in the entry's own load (a failed statement is logged above, once).
        if (err !== statementFailed) this.deps.log.warn({ err, eventId: s.id }, 'event refresh failed; serving the cached row')
      })
      mine ??= p
    }
    return mine as Promise<CachedEvent | undefined>
  }

  /** True when the event (or its absence) is held, fresh or stale: reading it costs this ingress
   *  no MySQL query of its own (a stale entry is refreshed once per ttl for every reader). */
  holds (id: number): boolean {
    return this.entries.has(id)
  }

  /** The cached event if it is fresh, without waiting; for answers that must not do I/O. */
  peek (id: number): CachedEvent | undefined {
    const entry = this.entries.get(id)
    if (entry !== undefined) entry.read = true
    if (entry === undefined || Date.now() - entry.loadedAt >= this.deps.ttlMs) return undefined
    return entry.value
  }

  /**
   * `event`: its row, read after `reopened` was the event's reopen count. Kept only while the load
   * is `current` (the event was not forgotten meanwhile).
   */
  private async load (id: number, event: SaleEvent | undefined, previous: CachedEvent | undefined, reopened: number, current: () => boolean): Promise<CachedEvent | undefined> {
    if (event === undefined) {
      if (current()) this.remember(id, undefined)
      return undefined
    }
    const held = previous?.holders
    const value: CachedEvent = { event, holders: held }
    if (value.holders === undefined && await isDeclaredSoldOut(this.deps.sale, id)) {
      const holders = await loadHolders(this.deps.sale, event)
      if (this.reopenCount(id) === reopened) value.holders = holders
    } else if (value.holders !== undefined && !await isDeclaredSoldOut(this.deps.sale, id)) {
      // The announcement is gone without a message (Redis lost it, or the message was missed).
      value.holders = undefined
    }
    // An announcement handled while this refresh ran (units came back: clearSoldOut; sold out
    // again: markSoldOut) changed the entry it started from. The flag this refresh read may be
    // older than that announcement: the entry's state wins, or a reopened sale would be answered
    // sold out from memory until the next refresh (test/unit/event-cache.test.ts).
    if (previous !== undefined && previous.holders !== held) value.holders = previous.holders
    if (this.reopenCount(id) !== reopened) value.holders = undefined
    if (current()) this.remember(id, value)
    return value
  }

  private reopenCount (id: number): number {
    return this.reopens.get(id) ?? 0
  }

  /** True while this ingress answers the event's buyers without a ticket sold_out from memory. */
  answersSoldOut (id: number): boolean {
    return this.entries.peek(id)?.value?.holders !== undefined
  }

  private remember (id: number, value: CachedEvent | undefined): void {
    // Reads while it loaded still count.
    this.entries.set(id, { value, loadedAt: Date.now(), read: this.entries.peek(id)?.read ?? false })
  }

  /**
   * Called when an event is announced sold out: loads its holders, then raises the flag -- unless
   * the sale reopened meanwhile, or the flag is gone from Redis by the time they are loaded.
   */
  async markSoldOut (id: number): Promise<void> {
    const reopened = this.reopenCount(id)
    const cached = await this.get(id)
    if (cached === undefined || cached.holders !== undefined) return
    const holders = await loadHolders(this.deps.sale, cached.event)
    if (this.reopenCount(id) !== reopened || !await isDeclaredSoldOut(this.deps.sale, id)) return
    if (this.reopenCount(id) !== reopened) return
    cached.holders = holders
  }

  /** Called when units come back to a sold-out event. */
  clearSoldOut (id: number): void {
    this.reopens.set(id, this.reopenCount(id) + 1)
    const entry = this.entries.get(id)
    if (entry?.value !== undefined) entry.value.holders = undefined
  }

  /** Drops the event's entry and any load of it in flight (its row changed): the next read loads it anew. */
  forget (id: number): void {
    this.entries.delete(id)
    this.loading.delete(id)
  }
}
