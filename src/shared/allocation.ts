/**
 * How a sale allocates its units, as the operator sets it per sale (`seckill_events.allocation_mode`
 * and `entry_mode`): the catalog stores and validates it, the sale picks its allocation policy
 * from it (src/sale/allocation/). Values the product does not implement yet are refused at the
 * admin API with a 400 that says so, never stored.
 */
import { ALLOCATION_MODES, ENTRY_MODES } from '../shapes/api'

export { ALLOCATION_MODES, ENTRY_MODES }
/**
 * `first_come`: units go to buyers in arrival order per shard (the default, the race). `draw`:
 * entries before the close (`start_at`), the winners drawn there, the runners-up on the waitlist
 * for units that come back (src/sale/allocation/draw-sale.ts).
 */
export type AllocationMode = typeof ALLOCATION_MODES[number]
/**
 * `on_start`: buying opens at `start_at`, nobody is placed before. `random_at_start`: buyers who
 * ask in a lead window before the start are placed in random order at the start (src/sale/
 * allocation/random-start.ts); later buyers queue behind them.
 */
export type EntryMode = typeof ENTRY_MODES[number]

/** A randomized start's lead window when the sale does not set one: 10 minutes. */
export const DEFAULT_LEAD_MS = 600_000
/** Bounds of a sale's lead window (`lead_ms`). */
export const MIN_LEAD_MS = 1_000
export const MAX_LEAD_MS = 86_400_000

/**
 * A randomized start's entrants per shard at most (lua/admitRandomStart answers "full" beyond). The
 * seal hands out this many queue positions at once, so a rebuild after Redis loss starts a
 * randomized start's positions past it (src/stock/sale-state.ts rebuildFloor). A constant, not a
 * setting: every process that rebuilds must count with the cap every ingress admitted under.
 */
export const MAX_ENTRANTS_PER_SHARD = 10_000_000

export const DEFAULT_ALLOCATION_MODE: AllocationMode = 'first_come'
export const DEFAULT_ENTRY_MODE: EntryMode = 'on_start'

/** A stored value read back: an unknown one (a newer release wrote it) is refused, not guessed. */
export function allocationModeOf (value: string | null | undefined): AllocationMode {
  if (value === null || value === undefined) return DEFAULT_ALLOCATION_MODE
  if ((ALLOCATION_MODES as readonly string[]).includes(value)) return value as AllocationMode
  throw new Error(`seckill_events.allocation_mode "${value}" is not known to this release`)
}

export function entryModeOf (value: string | null | undefined): EntryMode {
  if (value === null || value === undefined) return DEFAULT_ENTRY_MODE
  if ((ENTRY_MODES as readonly string[]).includes(value)) return value as EntryMode
  throw new Error(`seckill_events.entry_mode "${value}" is not known to this release`)
}
