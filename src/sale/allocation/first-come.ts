/**
 * First come, first served: the default policy, and the race it keeps as fast as it was. A buy
 * costs one Redis round trip (lua/admitBuyer: rate limit, ban, dedupe, gate, queue position and
 * the ticket's job); the drain decides each shard's tickets in queue-position order.
 */
import { Admit, admitBuyer } from '../../redis/commands'
import type { AdmitReply, AdmitTarget } from '../../redis/commands'
import type { SaleEvent } from '../../shared/sale-event'
import type { AdmissionDeps, BuyOutcome, Buyer } from '../admission-deps'
import type { TicketView } from '../tickets'
import { resetMovedShard, warmEvent } from '../../stock'
import { DomainError, notFound } from '../../shared/errors'
import { entrantTicketId, queuedTicketId, rejectedTicketId, shardOf, ticketIdPrefix } from '../../shared/ticket-ids'
import { parseStoredTicket, ticketView } from '../tickets'
import type { AllocationPolicy } from './policy'

export const firstCome: AllocationPolicy = {
  mode: 'first_come',
  entry: 'on_start',
  waitlist: false,
  drainOrder: 'queue_position',
  async admit (deps, event, buyer, buyToken) {
    return await admitInLine(deps, event, buyer, buyToken, async (target, userId, token) => await admitBuyer(deps.redis, target, userId, token))
  }
}

/** How a sold-out or existing answer is shown (the waitlist adds the buyer's place). */
export interface LineAnswers {
  soldOut: (ticket: TicketView, reply: AdmitReply) => TicketView | Promise<TicketView>
  existing: (ticket: TicketView) => TicketView | Promise<TicketView>
}

const plain: LineAnswers = { soldOut: (t) => t, existing: (t) => t }

/**
 * Admission to a shard's line by one admission script (lua/admitBuyer or a variant with its
 * arguments): one round trip, a rebuild when the shard is not warm, the reply turned into a ticket.
 */
export async function admitInLine (deps: AdmissionDeps, event: SaleEvent, buyer: Buyer, buyToken: string | undefined,
  admit: (target: AdmitTarget, userId: string, token: string | undefined) => Promise<AdmitReply>, answers: LineAnswers = plain): Promise<BuyOutcome> {
  const userId = buyer.id
  const shard = shardOf(userId, event.shards)
  const ref = { eventId: event.id, shard }
  const target: AdmitTarget = { k: deps.keys.shard(ref), q: deps.keys.buyQueue(ref), ticketPrefix: ticketIdPrefix(event.id, shard), overbook: deps.overbook, rate: deps.rateLimit, cluster: deps.cluster, proof: buyer.proof }
  const token = event.requireToken ? buyToken ?? '' : undefined
  const started = performance.now()
  let reply = await admit(target, userId, token)
  deps.onAdmitTime?.((performance.now() - started) / 1000)
  if (reply.code === Admit.MOVED) {
    // A replica took over the shard's node and may lack the last writes: the shard is forgotten
    // and rebuilt from MySQL (below, as when it is not warm), so no queue position is reused.
    if (await resetMovedShard(deps.redis, target.k)) {
      deps.log.warn({ shard: target.k.tag }, 'the shard\'s Redis node changed (a failover): reset, rebuilding it from MySQL')
      deps.onShardReset?.()
    }
    reply = { ...reply, code: Admit.NOT_WARM }
  }
  if (reply.code === Admit.NOT_WARM) {
    // Not warm (first buy after a Redis restart, or before any worker saw the event).
    const fresh = await deps.repo.findById(event.id)
    if (fresh === undefined) throw notFound('EVENT_NOT_FOUND', 'event')
    await warmEvent(deps, fresh, deps.repo)
    reply = await admit(target, userId, token)
    if (reply.code === Admit.NOT_WARM) throw new DomainError('SALE_NOT_READY', 'the sale is being prepared, retry shortly')
  }

  const { qpos, position, value } = reply
  switch (reply.code) {
    case Admit.QUEUED: {
      const ticketId = queuedTicketId(event.id, shard, qpos)
      deps.onOutcome?.('queued')
      return { kind: 'queued', ticket: ticketView(ticketId, { userId, status: 'queued', detail: '' }, qpos, qpos - position, undefined) }
    }
    case Admit.EXISTING: {
      const ticketId = queuedTicketId(event.id, shard, qpos)
      const stored = parseStoredTicket(value)
      if (stored === undefined) throw new DomainError('INTERNAL', `ticket ${ticketId} is unreadable`)
      deps.onOutcome?.('existing')
      return { kind: 'final', ticket: await answers.existing(ticketView(ticketId, stored, qpos, qpos - position, undefined)) }
    }
    case Admit.BANNED:
      deps.onOutcome?.('banned')
      throw new DomainError('ACCOUNT_BANNED', 'this account is suspended and cannot buy')
    case Admit.RATE_LIMITED:
      deps.onOutcome?.('rate_limited')
      throw new DomainError('RATE_LIMITED', `too many buys; retry in ${Math.ceil(qpos / 1000)} s`, qpos)
    case Admit.PROOF_MISSING:
      throw new DomainError('POW_REQUIRED', 'this sale needs a solved proof of work: GET /api/v1/events/:id/challenge, solve it, and send it in the X-Proof-Of-Work header')
    case Admit.PROOF_EXPIRED:
      throw new DomainError('POW_EXPIRED', 'the proof of work has expired: solve a new challenge (GET /api/v1/events/:id/challenge)')
    case Admit.PROOF_INVALID:
      throw new DomainError('POW_INVALID', buyer.proof?.refused ?? 'the proof of work is refused: solve a new challenge (GET /api/v1/events/:id/challenge)')
    case Admit.PROOF_USED:
      throw new DomainError('POW_USED', 'this proof of work was spent by an earlier buy: solve a new challenge (GET /api/v1/events/:id/challenge)')
    case Admit.TOKEN_INVALID:
      throw new DomainError('BUY_TOKEN_INVALID', 'this sale needs a valid buy token (X-Buy-Token), issued shortly before the start')
    case Admit.ENTERED:
    case Admit.ENTERED_BEFORE: {
      // A randomized start's lead window (lua/admitRandomStart): in, the place drawn at the start.
      const ticket: TicketView = { ticket_id: entrantTicketId(event.id, shard, userId), status: 'queued', awaiting_draw: true, entry_id: value }
      deps.onOutcome?.(reply.code === Admit.ENTERED ? 'queued' : 'existing')
      return reply.code === Admit.ENTERED ? { kind: 'queued', ticket } : { kind: 'final', ticket }
    }
    case Admit.ENTRIES_FULL:
      // A draw takes nobody at its start (DRAW_CLOSED): "buy again" would be untrue there.
      throw new DomainError('START_ENTRIES_FULL', event.mode === 'draw' ? 'this draw has taken all the entries it can' : 'the lead window is full; buy again at the start')
    case Admit.NOT_OPEN:
      // The lead window's opening, judged on Redis's TIME (admission.ts leaves it to the script).
      throw new DomainError('EVENT_NOT_STARTED', 'the sale has not started')
    case Admit.DRAW_CLOSED:
      throw new DomainError('DRAW_CLOSED', 'entries for this draw are closed')
    case Admit.SOLD_OUT_NOW:
    case Admit.SOLD_OUT_BEFORE:
      deps.onOutcome?.('sold_out')
      return { kind: 'final', ticket: await answers.soldOut({ ticket_id: rejectedTicketId(event.id, shard, userId), status: 'sold_out' }, reply) }
    default:
      throw new DomainError('INTERNAL', `admitBuyer answered ${String(reply.code)}`)
  }
}
