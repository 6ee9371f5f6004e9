/**
 * Every Lua script of the product, declared once: its name (the file lua/<name>.lua), its KEYS in
 * order, its ARGV in order, and the decoder of its reply. The call's types come from the
 * declaration: a caller names each key and argument (`{ keys: { stock: k.stock, ... }, args: {
 * leaseToken } }`), never a position, and the loader registers the script with as many keys as it
 * declares (src/redis/scripts.ts).
 *
 * Key names are the fields of ShardKeys and BuyQueueKeys (src/redis/keys.ts) where the key is one
 * of those, so a script that takes only a shard's keys is called with the shard's keys object.
 *
 * An argument named `...name` is a variadic tail (the last argument): the caller passes an array,
 * its values follow the fixed arguments.
 *
 * Each script's header comment names the same KEYS and ARGV, in order, one per line:
 *
 *     KEYS[1] lease       str  token of the shard's owner
 *     ARGV[1] leaseToken  the caller's token
 *     ARGV[2..] ticketIds  (the variadic tail)
 *
 * test/unit/lua-registry.test.ts checks every header against its declaration, and that every file
 * of lua/ is declared here and every script declared here has its file.
 *
 * The reply codes and reply shapes of the scripts are defined here too; src/redis/commands.ts and
 * src/stock/scripts.ts (the typed calls) export them to the rest of the code.
 */

/** A script argument as Redis receives it. */
export type Arg = string | number
/** A script's raw reply (RESP2 as ioredis decodes it). */
export type ScriptReply = number | string | null | ScriptReply[]

export interface ScriptSpec<K extends readonly string[] = readonly string[], A extends readonly string[] = readonly string[], R = unknown> {
  /** KEYS, in order. */
  readonly keys: K
  /** ARGV, in order; the last may be `...name`, a variadic tail. */
  readonly args: A
  /** `stock`: only the stock module (src/stock/) calls it; test/unit/dependency-rules.test.ts checks. */
  readonly owner?: 'stock'
  readonly decode: (reply: ScriptReply) => R
}

/** Declares one script (the `const` parameters keep the names as literal types). */
function script<const K extends readonly string[], const A extends readonly string[], R> (spec: ScriptSpec<K, A, R>): ScriptSpec<K, A, R> {
  return spec
}

type RestName<N> = N extends `...${infer R}` ? R : never
type FixedName<N> = N extends `...${string}` ? never : N

/** The keys of a call: one string per declared key name. */
export type KeysOf<S extends ScriptSpec> = { readonly [N in S['keys'][number]]: string }
/** The arguments of a call: one value per declared argument, an array for the variadic tail. */
export type ArgsOf<S extends ScriptSpec> =
  { readonly [N in FixedName<S['args'][number]>]: Arg } & { readonly [N in RestName<S['args'][number]>]: readonly Arg[] }
/** What a caller passes to run a script: its keys by name, and its arguments by name (none: may be left out). */
export type CallOf<S extends ScriptSpec> = S['args'] extends readonly []
  ? { readonly keys: KeysOf<S>, readonly args?: Record<string, never> }
  : { readonly keys: KeysOf<S>, readonly args: ArgsOf<S> }
export type ResultOf<S extends ScriptSpec> = ReturnType<S['decode']>

// ---- Replies -------------------------------------------------------------------------------

/** Replies of lua/admitBuyer. */
export const Admit = {
  QUEUED: 1,
  EXISTING: 2,
  SOLD_OUT_NOW: 3,
  SOLD_OUT_BEFORE: 4,
  NOT_WARM: -1,
  TOKEN_INVALID: -2,
  BANNED: -3,
  RATE_LIMITED: -4,
  /** The shard is on another Redis Cluster node than it was warmed on (a failover): reset it. */
  MOVED: -5,
  /** lua/admitRandomStart: entered the lead window now; the place is drawn at the start. */
  ENTERED: 5,
  /** lua/admitRandomStart: entered before (the same entry id). */
  ENTERED_BEFORE: 6,
  /** The sale needs a proof of work; the buyer holds no ticket and sent none. */
  PROOF_MISSING: -6,
  /** The buyer's proof of work is past its expiry (Redis's clock). */
  PROOF_EXPIRED: -7,
  /** The buyer's proof of work was spent by an earlier buy. */
  PROOF_USED: -8,
  /** lua/admitRandomStart: the shard's lead window is full (MAX_ENTRANTS_PER_SHARD): not entered. */
  ENTRIES_FULL: -9,
  /** The ingress refused the buyer's proof of work (POW_INVALID); the buyer holds no ticket and was not turned away. */
  PROOF_INVALID: -10,
  /** lua/admitRandomStart for a draw: entries are closed (sealed) and the buyer holds none. */
  DRAW_CLOSED: -11,
  /** lua/admitRandomStart: the lead window has not opened on Redis's TIME: nothing recorded. */
  NOT_OPEN: -12
} as const
export type AdmitCode = typeof Admit[keyof typeof Admit]

export interface AdmitReply {
  readonly code: AdmitCode
  /** For RATE_LIMITED: milliseconds left in the buyer's rate-limit window. */
  readonly qpos: number
  /** Place in line (queue position − highest decided position). */
  readonly position: number
  /** For EXISTING: the stored ticket, "user|status|detail". */
  readonly value: string
}

/** A job taken from a shard's buy queue: its id (the ticket id) and when BullMQ added it (ms). */
export interface TakenJob {
  readonly id: string
  readonly addedAt: number
  /** The buy's trace context (W3C traceparent) when it was traced and sampled, else ''. */
  readonly traceParent: string
}

export type TakeReply =
  | { readonly leaseLost: true }
  | { readonly leaseLost: false, readonly jobs: readonly TakenJob[] }

export interface TicketRead {
  /** The stored ticket, or "" when there is none. */
  readonly value: string
  readonly drained: number
  /** Drain rate in tickets per second, when measured. */
  readonly rate: number | undefined
  /** Positions up to this were handed out before Redis lost the shard (0 when it never did). */
  readonly lostBelow: number
  /** False while the shard is not warm (lost, and not yet rebuilt). */
  readonly warm: boolean
}

/** Replies of lua/rotateRefresh besides a user id. */
export const Rotate = { UNKNOWN: 0, REPLAYED: -1 } as const
export type RotateCode = typeof Rotate[keyof typeof Rotate]

/** Replies of lua/revokeRefresh. */
export const Revoke = { REVOKED: 1, UNKNOWN: 0, WRONG_SECRET: -1 } as const
export type RevokeCode = typeof Revoke[keyof typeof Revoke]

export interface QuotaBlock {
  /** The counter after this reservation: the block is requests (after - granted + 1) .. after. */
  readonly after: number
  /** Requests granted to the caller now (0: the window's quota is spent). */
  readonly granted: number
  /** Milliseconds left in the window. */
  readonly ttlMs: number
}

/** Per-ticket results of lua/reserveStock. */
export const Reserve = {
  NONE: 0,
  NOW: 1,
  BEFORE: 2,
  FINAL: 3,
  UNKNOWN: 4
} as const
export type ReserveResult = typeof Reserve[keyof typeof Reserve]

export interface ReservedTicket {
  readonly result: ReserveResult
  /** The ticket's buyer as stored ('' for an unknown ticket). */
  readonly userId: string
}

export type ReserveReply =
  | { readonly leaseLost: true }
  | { readonly leaseLost: false, readonly stock: number, readonly pending: number, readonly results: readonly ReservedTicket[], readonly reservedUpTo: number }

/** Per-ticket results of lua/borrowStock. */
export const Borrow = {
  NONE: 0,
  NOW: 1,
  BEFORE: 2
} as const
export type BorrowResult = typeof Borrow[keyof typeof Borrow]

export interface BorrowReply {
  readonly stock: number
  readonly pending: number
  readonly results: readonly BorrowResult[]
}

export type FinishReply =
  | { readonly leaseLost: true }
  | { readonly leaseLost: false, readonly stock: number, readonly pending: number, readonly changed: number }

/** Replies of lua/warmShard. */
export const Warm = { FENCED: -1, ALREADY: 0, WARMED: 1 } as const
export type WarmResult = typeof Warm[keyof typeof Warm]

/** Replies of lua/repairShard. */
export const Repair = { DONE: 1, LEASE_LOST: -1, MOVED: -2 } as const
export type RepairResult = typeof Repair[keyof typeof Repair]

/** Replies of lua/closeShard. */
export const Close = { LEASE_LOST: -1, UNITS_LEFT: 0, CLOSED: 1 } as const
export type CloseResult = typeof Close[keyof typeof Close]

/** Outcome of applying a returned unit (lua/applyReturn). */
export const ApplyReturn = { LEASE_LOST: -1, NOTHING_HELD: 0, RETURNED: 1, NOT_INDEXED: 2 } as const
export type ApplyReturnResult = typeof ApplyReturn[keyof typeof ApplyReturn]

/** A buyer's standing on a shard's waitlist (lua/readWaitlist). */
export interface WaitlistStanding {
  /** 1 = next; 0 = not on the waitlist. */
  readonly place: number
  /** The queue position of the ticket the buyer holds now (0: none). */
  readonly held: number
}

/** Outcome of lua/serveWaitlist: the return applied or not, buyers served, the first one waiting. */
export interface ServeWaitlistReply {
  readonly code: ApplyReturnResult
  readonly served: number
  /** Units are free but the waitlist's first buyer waits for tickets ahead to be decided. */
  readonly waiting: boolean
}

/** Outcome of lua/placeEntrants. */
export const Place = {
  DONE: 0,
  STALE: 1,
  LEASE_LOST: -1,
  NOT_WARM: -2,
  REFUSED: -3
} as const
export type PlaceCode = typeof Place[keyof typeof Place]
export interface PlaceReply {
  readonly code: PlaceCode
  /** Positions after `base` are the entrants'. */
  readonly base: number
  /** Entrants sealed. */
  readonly sealed: number
  /** Entrants placed so far. */
  readonly placed: number
}

// ---- Decoders shared by several scripts -----------------------------------------------------

const toNumber = (reply: ScriptReply): number => Number(reply)
/** 1: yes, anything else: no. */
const isOne = (reply: ScriptReply): boolean => reply === 1

// ---- The scripts ---------------------------------------------------------------------------

export const SCRIPTS = {
  // The buy path (src/sale/, through src/redis/commands.ts).
  admitBuyer: script({
    keys: ['holders', 'rejected', 'tickets', 'qseq', 'stock', 'pending', 'peers', 'closed', 'rejectedAt', 'drained', 'buyTokens', 'banned',
      'wait', 'active', 'meta', 'id', 'events', 'marker', 'jobPrefix', 'buyRate', 'node', 'proofs'],
    args: ['userId', 'overbook', 'buyToken', 'wake', 'ticketPrefix', 'bullmqVersion', 'eventsMaxLen', 'rateMax', 'rateWindowMs', 'traceParent', 'cluster',
      'proof', 'proofExpiresAt'],
    decode: (reply): AdmitReply => {
      const [code, qpos, position, value] = reply as [AdmitCode, number, number, string]
      return { code, qpos, position, value }
    }
  }),
  readTicket: script({
    keys: ['tickets', 'drained', 'rate', 'lostBelow', 'stock'],
    args: ['qpos'],
    decode: (reply): TicketRead => {
      const [value, drained, rate, lostBelow, warm] = reply as [string, number, string, number, number]
      return { value, drained, rate: rate === '' ? undefined : Number(rate), lostBelow, warm: Number(warm) === 1 }
    }
  }),
  confirmSoldOut: script({
    keys: ['closed', 'rejected', 'holders', 'banned'],
    args: ['...userIds'],
    decode: (reply): boolean[] => (reply as number[]).map((n) => Number(n) === 1)
  }),
  // A sale with a waitlist (src/sale/allocation/waitlist.ts).
  admitWaitlisted: script({
    keys: ['holders', 'rejected', 'tickets', 'qseq', 'stock', 'pending', 'peers', 'closed', 'rejectedAt', 'drained', 'buyTokens', 'banned',
      'wait', 'active', 'meta', 'id', 'events', 'marker', 'jobPrefix', 'buyRate', 'node',
      'waitlist', 'waitlistUsers', 'waitlistSeq', 'waitlistCursor', 'waitlistLeft', 'returnsDue', 'lostBelow', 'proofs'],
    args: ['userId', 'overbook', 'buyToken', 'wake', 'ticketPrefix', 'bullmqVersion', 'eventsMaxLen', 'rateMax', 'rateWindowMs', 'traceParent', 'cluster',
      'proof', 'proofExpiresAt'],
    decode: (reply): AdmitReply => {
      const [code, qpos, position, value] = reply as [AdmitCode, number, number, string]
      return { code, qpos, position, value }
    }
  }),
  admitRandomStart: script({
    keys: ['holders', 'rejected', 'tickets', 'qseq', 'stock', 'pending', 'peers', 'closed', 'rejectedAt', 'drained', 'buyTokens', 'banned',
      'wait', 'active', 'meta', 'id', 'events', 'marker', 'jobPrefix', 'buyRate', 'node', 'entrants', 'startSeal'],
    args: ['userId', 'overbook', 'buyToken', 'wake', 'ticketPrefix', 'bullmqVersion', 'eventsMaxLen', 'rateMax', 'rateWindowMs', 'traceParent', 'cluster', 'startAtMs', 'entryId', 'maxEntrants', 'drawOnly', 'opensAtMs'],
    decode: (reply): AdmitReply => {
      const [code, qpos, position, value] = reply as [AdmitCode, number, number, string]
      return { code, qpos, position, value }
    }
  }),
  placeEntrants: script({
    keys: ['lease', 'entrants', 'startSeal', 'startPlaced', 'holders', 'tickets', 'qseq', 'pending', 'drained', 'stock', 'startOrder', 'rejected',
      'wait', 'active', 'meta', 'id', 'events', 'marker', 'jobPrefix', 'banned'],
    args: ['leaseToken', 'from', 'count', 'wake', 'ticketPrefix', 'bullmqVersion', 'eventsMaxLen', '...placements'],
    decode: (reply): PlaceReply => {
      const [code, base, sealed, placed] = reply as [number, number, number, number]
      return { code: Number(code) as PlaceCode, base: Number(base), sealed: Number(sealed), placed: Number(placed) }
    }
  }),
  readWaitlist: script({
    keys: ['tickets', 'holders', 'drained', 'waitlist', 'waitlistUsers', 'waitlistSeq', 'waitlistCursor', 'waitlistLeft', 'lostBelow'],
    args: ['userId'],
    decode: (reply): WaitlistStanding => {
      const [place, held] = reply as [number, number]
      return { place: Number(place), held: Number(held) }
    }
  }),
  leaveWaitlist: script({
    keys: ['tickets', 'holders', 'drained', 'waitlist', 'waitlistUsers', 'waitlistSeq', 'waitlistCursor', 'waitlistLeft', 'lostBelow'],
    args: ['userId'],
    decode: isOne
  }),

  // The drain's queue (workers/, through src/redis/commands.ts).
  takeJobs: script({
    keys: ['lease', 'wait', 'active', 'jobPrefix'],
    args: ['leaseToken', 'count', 'adopt', '...settled'],
    decode: (r): TakeReply => {
      const reply = r as Array<number | string>
      if (reply[0] === -1) return { leaseLost: true }
      const jobs: TakenJob[] = []
      for (let i = 1; i < reply.length; i += 3) jobs.push({ id: String(reply[i]), addedAt: Number(reply[i + 1]), traceParent: String(reply[i + 2] ?? '') })
      return { leaseLost: false, jobs }
    }
  }),

  // Sessions and rate limits (src/identity/, src/http/, through src/redis/commands.ts).
  rotateRefresh: script({
    keys: ['family'],
    args: ['presentedHash', 'nextHash', 'ttlMs', 'nowMs', 'graceMs'],
    decode: (reply): string | RotateCode => typeof reply === 'string' ? reply : Number(reply) as RotateCode
  }),
  revokeRefresh: script({
    keys: ['family'],
    args: ['presentedHash', 'nowMs', 'graceMs'],
    decode: (reply): RevokeCode => Number(reply) as RevokeCode
  }),
  raiseSessionGen: script({
    keys: ['sessions'],
    args: ['gen', 'ttlMs'],
    decode: toNumber
  }),
  markSignedOut: script({
    keys: ['sessions'],
    args: ['family', 'nowMs', 'accessTtlMs'],
    decode: toNumber
  }),
  reserveQuota: script({
    keys: ['counter'],
    args: ['max', 'block', 'windowMs'],
    decode: (reply): QuotaBlock => {
      const [after, granted, ttlMs] = reply as [number, number, number]
      return { after, granted, ttlMs }
    }
  }),

  // The stock module's (src/stock/scripts.ts): stock, reservations, gates, epochs, leases.
  reserveStock: script({
    owner: 'stock',
    keys: ['stock', 'pending', 'reserved', 'lease', 'tickets', 'reservedUpTo'],
    args: ['leaseToken', 'ticketIdPrefix', '...qposes'],
    decode: (r): ReserveReply => {
      const reply = r as Array<number | string>
      if (reply[0] === -1) return { leaseLost: true }
      const results: ReservedTicket[] = []
      for (let i = 4; i < reply.length; i += 2) results.push({ result: reply[i] as ReserveResult, userId: String(reply[i + 1] ?? '') })
      return { leaseLost: false, stock: Number(reply[1] ?? 0), pending: Number(reply[2] ?? 0), results, reservedUpTo: Number(reply[3] ?? 0) }
    }
  }),
  borrowStock: script({
    owner: 'stock',
    keys: ['stock', 'pending', 'reserved', 'borrowerFences', 'entrants', 'startSeal'],
    args: ['mode', 'shard', 'fence', '...ticketIds'],
    decode: (r): BorrowReply | 'lease_lost' => {
      const reply = r as number[]
      if (reply[0] === -1) return 'lease_lost'
      return { stock: reply[0] ?? 0, pending: reply[1] ?? 0, results: reply.slice(2) as BorrowResult[] }
    }
  }),
  fenceBorrower: script({
    owner: 'stock',
    keys: ['borrowerFences'],
    args: ['shard', 'fence'],
    decode: toNumber
  }),
  releaseStock: script({
    owner: 'stock',
    keys: ['stock', 'reserved'],
    args: ['...ticketIds'],
    decode: toNumber
  }),
  finishTickets: script({
    owner: 'stock',
    keys: ['tickets', 'pending', 'drained', 'lease', 'stock', 'rate'],
    args: ['leaseToken', 'channel', 'shardLabel', 'drainRate', '...decisions'],
    decode: (r): FinishReply => {
      const reply = r as number[]
      if (reply[0] === -1) return { leaseLost: true }
      return { leaseLost: false, stock: reply[1] ?? 0, pending: reply[2] ?? 0, changed: reply[3] ?? 0 }
    }
  }),
  warmShard: script({
    owner: 'stock',
    keys: ['stock', 'pending', 'qseq', 'drained', 'peers', 'lostBelow', 'node', 'rebuildFence', 'reserved', 'returnsGen'],
    args: ['units', 'firstMark', 'floor', 'fence', 'siblingCount', '...siblingsThenHeld'],
    decode: (reply): WarmResult => Number(reply) as WarmResult
  }),
  claimShard: script({
    owner: 'stock',
    keys: ['rebuildFence'],
    args: ['fence'],
    decode: isOne
  }),
  repairShard: script({
    owner: 'stock',
    keys: ['lease', 'reserved', 'stock', 'closed', 'rejectedAt', 'epochs', 'drained', 'returnsGen'],
    args: ['leaseToken', 'delta', 'reopen', 'markCount', '...markThenFree'],
    decode: (reply): RepairResult => Number((reply as number[])[0]) as RepairResult
  }),
  readFreeUnits: script({
    owner: 'stock',
    keys: ['stock', 'pending', 'startSeal', 'entrants'],
    args: [],
    decode: (reply): number => Number(reply)
  }),
  closeShard: script({
    owner: 'stock',
    keys: ['lease', 'stock', 'closed'],
    args: ['leaseToken'],
    decode: (reply): CloseResult => Number(reply) as CloseResult
  }),
  reopenShard: script({
    owner: 'stock',
    keys: ['closed', 'rejectedAt', 'epochs', 'drained'],
    args: [],
    decode: toNumber
  }),
  applyReturn: script({
    owner: 'stock',
    keys: ['lease', 'reserved', 'stock', 'closed', 'rejectedAt', 'epochs', 'drained', 'returnsGen'],
    args: ['leaseToken', 'ticketId'],
    decode: (reply): ApplyReturnResult => Number(reply) as ApplyReturnResult
  }),
  serveWaitlist: script({
    owner: 'stock',
    keys: ['lease', 'reserved', 'stock', 'closed', 'rejectedAt', 'epochs', 'drained', 'returnsGen', 'holders', 'tickets', 'qseq', 'rejected',
      'wait', 'active', 'meta', 'id', 'events', 'marker', 'jobPrefix',
      'waitlist', 'waitlistUsers', 'waitlistSeq', 'waitlistCursor', 'waitlistLeft', 'waitlistServed', 'banned', 'lostBelow'],
    args: ['leaseToken', 'ticketId', 'endMs', 'wake', 'ticketPrefix', 'bullmqVersion', 'eventsMaxLen'],
    decode: (reply): ServeWaitlistReply => {
      const [code, served, waiting] = reply as [number, number, number]
      return { code: Number(code) as ApplyReturnResult, served: Number(served), waiting: Number(waiting) === 1 }
    }
  }),
  startEpoch: script({
    owner: 'stock',
    keys: ['lease', 'lenderGens', 'epochs', 'closed', 'rejectedAt'],
    args: ['leaseToken', 'boundary', '...lenderGens'],
    decode: (reply): boolean | 'lease_lost' => {
      const r = Number(reply)
      return r < 0 ? 'lease_lost' : r === 1
    }
  }),
  renewLease: script({
    owner: 'stock',
    keys: ['lease'],
    args: ['token', 'ms'],
    decode: isOne
  }),
  swapLease: script({
    owner: 'stock',
    keys: ['lease'],
    args: ['provisional', 'token', 'ms'],
    decode: isOne
  }),
  releaseLease: script({
    owner: 'stock',
    keys: ['lease'],
    args: ['token'],
    decode: isOne
  }),
  resetMovedShard: script({
    owner: 'stock',
    // `node` and `stock` first, then every other key of the shard (src/redis/keys.ts
    // allShardKeys; test/unit/lua-registry.test.ts checks that none is left out).
    keys: ['node', 'stock', 'pending', 'qseq', 'drained', 'holders', 'rejected', 'tickets', 'reserved', 'peers', 'closed', 'rejectedAt',
      'epochs', 'rate', 'buyTokens', 'banned', 'lease', 'lostBelow', 'returnsDue', 'returnsGen', 'lenderGens', 'reservedUpTo',
      'borrowerFences', 'rebuildFence', 'entrants', 'startSeal', 'startPlaced', 'startOrder'],
    args: [],
    decode: isOne
  })
} as const

export type Scripts = typeof SCRIPTS
export type ScriptName = keyof Scripts
export type ScriptCall<N extends ScriptName> = CallOf<Scripts[N]>
export type ScriptResult<N extends ScriptName> = ResultOf<Scripts[N]>

/** Every declared script's name. */
export const SCRIPT_NAMES = Object.keys(SCRIPTS) as ScriptName[]
