/**
 * What an operator can do to a sale that is on: hold it (pause), let it go on (resume), and end
 * it early. A pause is a column of the sale's row in MySQL, the one truth every drain reads before
 * each batch, never a flag in one process's memory: a paused sale still admits and queues buyers
 * (their places are kept), and no ticket of it is decided until it resumes. Ending early moves the
 * sale's end to now, on MySQL's clock: buys are refused from then on, and the drain still decides
 * every ticket admitted before (a buyer in line gets an answer). A message to everyone in line is
 * a column of the row too, so every ingress serves the same one.
 */
import { DomainError, badRequest, notFound } from '../shared/errors'
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

/** The longest message to the line, in characters (code points) after trimming. */
export const LINE_MESSAGE_MAX = 280

/**
 * Sets the message every buyer of the sale reads on its page and in line: plain text, 1 to
 * LINE_MESSAGE_MAX characters after trimming; an empty text clears it. Control characters other
 * than line breaks are refused (a message is read, never interpreted). Any sale that exists may
 * have one: buyers still in line after the end are waiting for their answer too.
 */
export async function setLineMessage (deps: CatalogDeps, id: number, text: string, audit?: AuditInTransaction): Promise<EventView> {
  const trimmed = text.trim()
  if ([...trimmed].length > LINE_MESSAGE_MAX) throw badRequest(`text must be at most ${LINE_MESSAGE_MAX} characters after trimming`)
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u0009\u000b-\u001f\u007f]/.test(trimmed)) throw badRequest('text must be plain text: no control characters other than line breaks')
  if (!await deps.events.setLineMessage(id, trimmed === '' ? null : trimmed, audit)) throw notFound('EVENT_NOT_FOUND', 'event')
  await eventChanged(deps, id)
  return await viewOf(deps, id)
}
