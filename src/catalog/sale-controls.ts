/**
 * What an operator can do to a sale that is on: hold it (pause), let it go on (resume), and end
 * it early. A pause is a column of the sale's row in MySQL, the one truth every drain reads before
 * each batch, never a flag in one process's memory: a paused sale still admits and queues buyers
 * (their places are kept), and no ticket of it is decided until it resumes. Ending early moves the
 * sale's end to now, on MySQL's clock: buys are refused from then on, and the drain still decides
 * every ticket admitted before (a buyer in line gets an answer).
 */
import { DomainError, notFound } from '../shared/errors'
import type { AuditInTransaction } from '../shared/admin-trail'
import type { EventView } from '../shapes/api'
import type { CatalogDeps } from './catalog'
import { eventChanged, eventView } from './catalog'

async function viewOf (deps: CatalogDeps, id: number): Promise<EventView> {
  const event = await deps.events.findById(id)
  if (event === undefined) throw notFound('EVENT_NOT_FOUND', 'event')
  return await eventView(deps, event, Date.now())
}

async function setPaused (deps: CatalogDeps, id: number, paused: boolean, audit?: AuditInTransaction): Promise<EventView> {
  if (await deps.events.findById(id) === undefined) throw notFound('EVENT_NOT_FOUND', 'event')
  const outcome = await deps.events.setPaused(id, paused, audit)
  if (outcome === 'not_live') throw new DomainError('EVENT_ENDED', `the sale has ended; there is nothing to ${paused ? 'pause' : 'resume'}`)
  if (outcome === 'done') await eventChanged(deps, id)
  return await viewOf(deps, id)
}

/** Holds the sale: idempotent (pausing a paused sale answers it as it is). */
export async function pauseEvent (deps: CatalogDeps, id: number, audit?: AuditInTransaction): Promise<EventView> {
  return await setPaused(deps, id, true, audit)
}

/** Lets a held sale go on: idempotent. */
export async function resumeEvent (deps: CatalogDeps, id: number, audit?: AuditInTransaction): Promise<EventView> {
  return await setPaused(deps, id, false, audit)
}

/** Ends a sale that is on now; 409 for one not started (delete it instead) or already over. */
export async function endEventNow (deps: CatalogDeps, id: number, audit?: AuditInTransaction): Promise<EventView> {
  const event = await deps.events.findById(id)
  if (event === undefined) throw notFound('EVENT_NOT_FOUND', 'event')
  if (!await deps.events.endNow(id, audit)) {
    const now = Date.now()
    if (now < event.startAt.getTime()) throw new DomainError('EVENT_NOT_STARTED', 'the sale has not started; change or delete it instead')
    throw new DomainError('EVENT_ENDED', 'the sale has already ended')
  }
  await eventChanged(deps, id)
  return await viewOf(deps, id)
}
