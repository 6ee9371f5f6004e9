/**
 * An operator's hands on a running sale (issue 32): pause, resume, end early. Under /admin, so
 * admins only and every attempt audited (the admin routes' hooks). The pause is written to the
 * sale's row in MySQL, which every drain reads before each batch: whichever ingress takes the
 * request, every worker sees it.
 */
import type { FastifyInstance } from 'fastify'
import type { CatalogDeps } from '../../catalog'
import { endEventNow, pauseEvent, resumeEvent } from '../../catalog'
import { auditedBy } from '../admin-trail'
import { commonErrors, ok, okSchema } from '../envelope'
import { eventSchema, idParams } from '../schemas'

export async function saleControlRoutes (app: FastifyInstance, opts: { catalog: CatalogDeps }): Promise<void> {
  const { catalog } = opts
  const schema = { params: idParams, response: { 200: okSchema(eventSchema), ...commonErrors } }

  /** Holds the sale: buyers still join the line, no ticket is decided until it resumes. Idempotent. */
  app.post<{ Params: { id: string } }>('/events/:id/pause', {
    config: { audit: { action: 'event.pause', target: 'event' } },
    schema: { ...schema, description: 'Holds a sale that has not ended: it admits and queues buyers, but no drain decides a ticket until it resumes. 409 once the sale has ended.' }
  }, async (request) => ok(await pauseEvent(catalog, Number(request.params.id), auditedBy(request))))

  app.post<{ Params: { id: string } }>('/events/:id/resume', {
    config: { audit: { action: 'event.resume', target: 'event' } },
    schema: { ...schema, description: 'Lets a held sale go on. Idempotent; 409 once the sale has ended.' }
  }, async (request) => ok(await resumeEvent(catalog, Number(request.params.id), auditedBy(request))))

  app.post<{ Params: { id: string } }>('/events/:id/end', {
    config: { audit: { action: 'event.end', target: 'event' } },
    schema: { ...schema, description: 'Ends a sale that is on now (its end becomes now, on MySQL\'s clock); buyers already in line still get their answer. 409 for a sale not started or already over.' }
  }, async (request) => ok(await endEventNow(catalog, Number(request.params.id), auditedBy(request))))
}
