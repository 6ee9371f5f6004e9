/**
 * The sale: admission (a buy becomes a ticket), tickets and their long-polls, the outcome bus,
 * the ingress's event cache and sold-out answers, the operator's live view, the allocation
 * policy, and the invariant audit every test, drill and bench ends with.
 *
 * The front door: other areas, the drain and the HTTP layer import the sale from here only
 * (.dependency-cruiser.cjs). The sale sits on top: nothing in identity, catalog, stock or orders
 * imports it.
 */

export { answerFromMemory, buy, issueBuyToken } from './admission'
export type { AdmissionDeps, Buyer, BuyOutcome, BuyTokenDeps } from './admission'
export { drawSale, firstCome, firstComeWithWaitlist, leaveWaitlist, placeAtStart, policyFor, StartPlacement, randomStart } from './allocation'
export type { PlacementDeps, PlacementState } from './allocation'
export { commitmentOf, draw, drawKey, newDrawSeed, newEntryId } from './allocation'
export type { DrawResult } from './allocation'
export type { AllocationPolicy, WaitlistDeps } from './allocation'
export { POW_DEFAULT_MAX_NUMBER, POW_HEADER, createChallenge, issueChallenge, powKeyFrom, proofHeaderOf, solveChallenge } from './proof-of-work'
export type { ChallengeDeps, PowSolution } from './proof-of-work'
export { DrainPace } from './drain-pace'
export { EventCache } from './event-cache'
export { FinalTickets } from './final-tickets'
export { auditSale } from './invariant-audit'
export type { InvariantCheck, SaleAudit } from './invariant-audit'
export { OutcomeBus } from './outcome-bus'
export { saleStats } from './sale-stats'
export { SoldOutAnswers } from './sold-out-answers'
export { buyersTicket, waitForTicket } from './ticket-reader'
export type { TicketReaderDeps } from './ticket-reader'
export type { FailReason } from './tickets'
