/**
 * The stock module's front door: the one owner of a sale's stock, reservations, gates, FIFO
 * epochs, sold-out flag, peers and lender generations in Redis.
 *
 * Every write of that state goes through here, and every one is made by the state's owner:
 *   - a shard's lease holder (the drain: reserve, borrow, finish, epochs, returns, its own gate),
 *     each script checking the lease where it writes (`shard-lease.ts`);
 *   - a rebuild, one per event at a time under the event's row lock in MySQL, warming a shard only
 *     under its own rebuild fence (`sale-state.ts`, `warmEvent`);
 *   - the reconciler, as a fenced owner holding every lease of the event (`reconciler.ts`).
 * A unit that comes back elsewhere (cancel, expiry, a batch's replay, a rebuild) is recorded in
 * MySQL's outbox in the caller's transaction and applied by the shard's owner (`unit-returns.ts`,
 * `return-applier.ts`).
 *
 * Nothing outside src/stock imports its files but this one, and nothing outside calls the scripts
 * of src/stock/scripts.ts (.dependency-cruiser.cjs, checked by `npm test`).
 */
export type { OrderTickets, SaleHistory, GateLook } from './sale-state'
export type { SaleStateDeps } from './deps'
export {
  warmEvent, clearEvent, shardStocks, remainingUnits, isDeclaredSoldOut, announceRetired,
  closeGateIfSaleEmpty, reopenGate, withdrawSoldOutIfOpen, shareFreeUnits, loadHolders, eventDecided,
  rebuildFloor, splitStock
} from './sale-state'
export type { ReconcileReport, ReconcileDeps } from './reconciler'
export { reconcileEvent, changedAnything } from './reconciler'
export type { Lease } from './shard-lease'
export { acquireLease, fenceSiblings, releaseLease, renewLease } from './shard-lease'
export type { ReturnReason, UnitReturn } from './unit-returns'
export {
  recordReturns, signalReturns, askSiblingsToClose, pendingReturns, markApplied, shardsWithPendingReturns, lateReturnShards,
  WAKE_JOBS, WAKE_RETURNS, WAKE_SOLD_OUT
} from './unit-returns'
export type { ReturnApplierDeps, AppliedReturns } from './return-applier'
export { applyDueReturns, applyLateReturns } from './return-applier'
// The drain's own operations on its shard, each fenced by the lease token it passes.
export type { ReserveReply, ReservedTicket, BorrowReply, Borrower, TicketDecision, FinishReply, WarmPlan } from './scripts'
export { Reserve, Borrow, reserveStock, borrowStock, releaseStock, finishTickets, startEpoch, resetMovedShard } from './scripts'
// For benchmarks that warm a shard by hand.
export { claimShard, warmShard } from './scripts'
