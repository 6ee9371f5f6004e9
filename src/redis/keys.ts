/**
 * Every Redis key and channel of the product is built here, and nowhere else.
 *
 * Keys of one event shard share the hash tag `{e<event>.<shard>}`, so a shard's scripts touch a
 * single slot and the product runs on Redis Cluster unchanged. Event-level keys use `{e<event>}`.
 * The BullMQ queue of a shard carries the same tag in its prefix.
 *
 * | key (after `<prefix>:{e<event>.<shard>}:`) | type   | what it holds                                        |
 * |---------------------------------------------|--------|------------------------------------------------------|
 * | stock                                       | int    | units of the shard not yet reserved                  |
 * | pending                                     | int    | admitted tickets not yet decided                     |
 * | qseq                                        | int    | queue positions handed out (last one)                |
 * | drained                                     | int    | highest queue position decided (FIFO)                |
 * | holders                                     | hash   | user -> queue position of the user's ticket          |
 * | rejected                                    | set    | users answered sold_out at the gate                  |
 * | tickets                                     | hash   | queue position -> "user|status|detail"               |
 * | reserved                                    | hash   | ticket id -> "1": units reserved for these tickets   |
 * | peers                                       | hash   | sibling shard -> free units last seen there          |
 * | closed                                      | string | set when the event sold out (gate answers sold_out)  |
 * | rejected-at                                 | int    | qseq at the first gate rejection (for the FIFO check)|
 * | epochs                                      | list   | one entry per reopen after units came back           |
 * | rate                                        | string | drain rate, tickets per second                       |
 * | buy-tokens                                  | hash   | user -> "<token>:<expires at ms>" (single use)       |
 * | banned                                      | set    | users an admin banned (copied from MySQL's users)    |
 * | buy-rate:<window>                           | hash   | user -> buys in that rate-limit window (expires after|
 * |                                             |        | the next window; admission counts and checks them)   |
 * | lease                                       | string | token of the worker that owns the shard's drain      |
 * | lost-below                                  | int    | positions up to this were handed out before Redis    |
 * |                                             |        | lost the shard (set by a rebuild)                    |
 * | returns-signal                              | zset   | one member while units came back to the sale (MySQL's|
 * |                                             |        | unit_returns): the owner applies them and reopens its|
 * |                                             |        | gate; a zset so an idle owner's BZPOPMIN on the queue|
 * |                                             |        | marker wakes on it too                               |
 * | returns-gen                                 | int    | units returned to this shard so far                  |
 * | reserved-upto                               | int    | highest position that has been through a reservation |
 * | lender-gens                                 | hash   | sibling -> its returns-gen when this shard last      |
 * |                                             |        | started an epoch for units it borrows from there     |
 * | borrower-fences                             | hash   | sibling -> fencing number of its current owner (a    |
 * |                                             |        | former owner may not borrow here)                    |
 * | rebuild-fence                               | int    | fence of the newest rebuild that claimed the shard   |
 * |                                             |        | (seckill_events.rebuild_fence): only it may warm it  |
 * | rs:entrants                                 | hash   | randomized start: user -> entry id, buyers who asked |
 * |                                             |        | in the lead window (frozen once sealed)              |
 * | rs:seal                                     | string | "<base>:<n>" once the entry list is closed: the n    |
 * |                                             |        | entrants get positions base+1 .. base+n              |
 * | rs:placed                                   | int    | entrants placed so far (in drawn order)              |
 * | rs:order                                    | list   | entry ids in the order they were placed              |
 * | pow:<proof id>                              | string | a spent proof of work (src/sale/proof-of-work.ts),   |
 * |                                             |        | expiring with the proof (lua/includes/spendProof)    |
 *
 * Process-wide keys (no hash tag; each is read and written alone): `buy-latency:<second>` (hash
 * latency bucket -> buys every ingress answered in that second, expiring after two minutes) and
 * `drain-pace` (the drain's last measured tickets per second, kept across sales, so the first
 * wait a buyer is shown comes from a measured pace, not a guess).
 *
 * A sale with a waitlist (src/sale/allocation/waitlist.ts) keeps it under
 * `<prefix>:{e<event>.<shard>}:wl:` (`keys.waitlist`, the same hash tag):
 *
 * | key (after `…:wl:`) | type   | what it holds                                                      |
 * |---------------------|--------|--------------------------------------------------------------------|
 * | list                | zset   | "<seq>:<user>" by arrival key: a gate's turn-away at queue seq Q is |
 * |                     |        | Q, a ticket at position p that lost is p - 0.5                     |
 * | users               | hash   | user -> their member of `list`                                     |
 * | seq                 | int    | members made so far (ties in the arrival key keep arrival order)   |
 * | cursor              | int    | positions up to here were looked at for tickets that lost          |
 * | left                | set    | users who left the waitlist (never put back)                       |
 * | served              | list   | "<arrival key>:<user>:<new queue position>" per buyer served       |
 *
 * The shard's buy queue lives under `<prefix>:q:{e<event>.<shard>}:buy:` in BullMQ's own layout
 * (`wait` and `active` lists of job ids, a hash per job, `id`, `marker`, `meta`, `events`). The
 * admission script adds a ticket's job as BullMQ's `add` would (lua/admitBuyer); the drain takes
 * and settles them in batches (lua/takeJobs).
 */
import { LRUCache } from 'lru-cache'
import { QueueKeys } from 'bullmq'

export interface ShardRef {
  readonly eventId: number
  readonly shard: number
}

export interface ShardKeys {
  readonly tag: string
  readonly stock: string
  readonly pending: string
  readonly qseq: string
  readonly drained: string
  readonly holders: string
  readonly rejected: string
  readonly tickets: string
  readonly reserved: string
  readonly peers: string
  readonly closed: string
  readonly rejectedAt: string
  readonly epochs: string
  readonly rate: string
  readonly buyTokens: string
  readonly banned: string
  readonly lease: string
  readonly lostBelow: string
  readonly returnsDue: string
  readonly returnsGen: string
  readonly lenderGens: string
  readonly reservedUpTo: string
  readonly borrowerFences: string
  /** The newest rebuild's fence that claimed the shard (lua/claimShard); only it may warm the shard. */
  readonly rebuildFence: string
  /** On a Redis Cluster, the id of the node the shard was warmed on (a failover is noticed by it). */
  readonly node: string
  /**
   * Pub/sub channel (not a key) on which an idle drain of the shard is woken: `j` when a ticket
   * is admitted after every earlier one was decided, `r` when units came back.
   */
  readonly wake: string
  /** Prefix of the buy rate-limit windows: the window's number follows it (lua/admitBuyer). */
  readonly buyRate: string
  /** Randomized start (src/sale/allocation/random-start.ts): the lead window's entrants, user -> entry id. */
  readonly entrants: string
  /** Randomized start: "<base>:<n>" once the entry list is closed. */
  readonly startSeal: string
  /** Randomized start: entrants placed so far. */
  readonly startPlaced: string
  /** Randomized start: entry ids in placed order. */
  readonly startOrder: string
  /** Prefix of the spent proofs of work: a proof's id follows it (lua/includes/spendProof). */
  readonly proofs: string
}

/** A shard's waitlist (a sale with `waitlist` on): see the table above. */
export interface WaitlistKeys {
  readonly list: string
  readonly users: string
  readonly seq: string
  readonly cursor: string
  readonly left: string
  readonly served: string
}

interface EventKeys {
  readonly soldOut: string
}

export interface KeySpace {
  readonly prefix: string
  shard: (ref: ShardRef) => ShardKeys
  event: (eventId: number) => EventKeys
  /** A shard's waitlist, hash-tagged like the shard's own keys. */
  waitlist: (ref: ShardRef) => WaitlistKeys
  /** Prefix handed to BullMQ for a shard's queue (hash-tagged like the shard's own keys). */
  queuePrefix: (ref: ShardRef) => string
  /** The BullMQ keys of a shard's buy queue that the drain reads (built by BullMQ's QueueKeys). */
  buyQueue: (ref: ShardRef) => BuyQueueKeys
  /** Prefix of the rate-limit counters. */
  rateLimit: string
  /** A refresh-token family (one key each; no multi-key operation touches two). */
  refreshFamily: (family: string) => string
  /** An account's sessions: its cached generation and recent sign-outs (lua/raiseSessionGen). */
  sessions: (userId: string) => string
  /** Login attempts of one account in the current window. */
  /** Login attempts at one account from one address. */
  loginAttempts: (email: string, address: string) => string
  /** Failed logins at one account from any address (the slowdown). */
  loginFailures: (email: string) => string
  /** The email-verification code an account was sent: its hash, the address, wrong tries. */
  emailCode: (userId: string) => string
  /** Set while an account may not be sent another code (one a minute). */
  emailCodeSent: (userId: string) => string
  /** Channel telling ingresses that the catalog changed (their caches drop it). */
  catalogChannel: string
  /** Buys answered in one second by every ingress, by latency bucket (hash `le` -> count; expires after 2 min). */
  buyLatency: (second: number) => string
  /** The drain's last measured pace (tickets per second), kept across sales for first wait estimates. */
  drainPace: string
  /** Sorted set of live drain workers (token -> last heartbeat), to share shards evenly. */
  workers: string
  /** Client name (CLIENT SETNAME) of a worker's one connection that hears drain wake-ups, for CLIENT LIST. */
  drainWakeConnection: string
  /** Test-only: set once when an injected fault has fired. */
  faultFired: string
  /** Channel on which drains publish decided tickets: message `e<event>.<shard>:q1,q2,…`. */
  outcomeChannel: string
  /** Channel on which sold-out and reopened events are announced: message `<event>:1|0`. */
  eventStateChannel: string
}

/** Keys of a shard's BullMQ buy queue, as BullMQ names them. */
export interface BuyQueueKeys {
  readonly wait: string
  readonly active: string
  readonly marker: string
  readonly meta: string
  /** Jobs added so far. */
  readonly id: string
  /** The queue's event stream. */
  readonly events: string
  /** A job's hash is this prefix followed by the job id. */
  readonly jobPrefix: string
}

export const QUEUE_NAME = 'buy'

export function shardTag (ref: ShardRef): string {
  return `${eventTagStart(ref.eventId)}${ref.shard}}`
}

/** What the hash tag of every shard of an event starts with. */
function eventTagStart (eventId: number): string {
  return `{e${eventId}.`
}

export function createKeySpace (prefix: string): KeySpace {
  // Key names are built once per shard: the buy path asks for them on every request.
  const shardCache = new LRUCache<string, ShardKeys>({ max: 10_000 })
  const queueCache = new LRUCache<string, BuyQueueKeys>({ max: 10_000 })
  const queuePrefix = (ref: ShardRef): string => `${prefix}:q:${shardTag(ref)}`
  return {
    prefix,
    shard (ref) {
      const tag = shardTag(ref)
      let keys = shardCache.get(tag)
      if (keys === undefined) {
        const base = `${prefix}:${tag}:`
        keys = Object.freeze({
          tag,
          stock: base + 'stock',
          pending: base + 'pending',
          qseq: base + 'qseq',
          drained: base + 'drained',
          holders: base + 'holders',
          rejected: base + 'rejected',
          tickets: base + 'tickets',
          reserved: base + 'reserved',
          peers: base + 'peers',
          closed: base + 'closed',
          rejectedAt: base + 'rejected-at',
          epochs: base + 'epochs',
          rate: base + 'rate',
          buyTokens: base + 'buy-tokens',
          banned: base + 'banned',
          lease: base + 'lease',
          lostBelow: base + 'lost-below',
          returnsDue: base + 'returns-signal',
          returnsGen: base + 'returns-gen',
          lenderGens: base + 'lender-gens',
          reservedUpTo: base + 'reserved-upto',
          borrowerFences: base + 'borrower-fences',
          rebuildFence: base + 'rebuild-fence',
          node: base + 'node',
          wake: base + 'wake',
          buyRate: base + 'buy-rate:',
          entrants: base + 'rs:entrants',
          startSeal: base + 'rs:seal',
          startPlaced: base + 'rs:placed',
          startOrder: base + 'rs:order',
          proofs: base + 'pow:'
        })
        // Bounded: one entry per live shard the process touched; shards are few.
        shardCache.set(tag, keys)
      }
      return keys
    },
    event (eventId) {
      return { soldOut: `${prefix}:{e${eventId}}:sold-out` }
    },
    waitlist (ref) {
      const base = `${prefix}:${shardTag(ref)}:wl:`
      return { list: base + 'list', users: base + 'users', seq: base + 'seq', cursor: base + 'cursor', left: base + 'left', served: base + 'served' }
    },
    queuePrefix,
    buyQueue (ref) {
      const tag = shardTag(ref)
      let keys = queueCache.get(tag)
      if (keys === undefined) {
        const bull = new QueueKeys(queuePrefix(ref))
        const k = bull.getKeys(QUEUE_NAME)
        keys = Object.freeze({
          wait: k.wait as string,
          active: k.active as string,
          marker: k.marker as string,
          meta: k.meta as string,
          id: k.id as string,
          events: k.events as string,
          jobPrefix: bull.toKey(QUEUE_NAME, '')
        })
        queueCache.set(tag, keys)
      }
      return keys
    },
    rateLimit: `${prefix}:rl:`,
    refreshFamily: (family) => `${prefix}:rt:${family}`,
    sessions: (userId) => `${prefix}:sess:{u${userId}}`,
    loginAttempts: (email, address) => `${prefix}:login:${email}:${address}`,
    loginFailures: (email) => `${prefix}:login-failed:${email}`,
    emailCode: (userId) => `${prefix}:email-code:{u${userId}}`,
    emailCodeSent: (userId) => `${prefix}:email-code-sent:{u${userId}}`,
    catalogChannel: `${prefix}:catalog`,
    buyLatency: (second) => `${prefix}:buy-latency:${second}`,
    drainPace: `${prefix}:drain-pace`,
    workers: `${prefix}:workers`,
    drainWakeConnection: `${prefix}:drain-wake`,
    faultFired: `${prefix}:fault-fired`,
    outcomeChannel: `${prefix}:outcomes`,
    eventStateChannel: `${prefix}:event-state`
  }
}

/** All keys of a shard, for expiry after the sale and for tests that clean up. */
export function allShardKeys (keys: ShardKeys): string[] {
  const { tag: _tag, wake: _wake, buyRate: _buyRate, proofs: _proofs, ...rest } = keys
  return Object.values(rest)
}
