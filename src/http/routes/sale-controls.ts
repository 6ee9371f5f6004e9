/**
 * An operator's hands on a running sale (issue 32): pause, resume, end early, and a message to
 * everyone in line. Under /admin, so admins only and every attempt audited (the admin routes'
 * hooks). The pause and the message are written to the sale's row in MySQL, which every drain
 * reads before each batch and every ingress's event cache reloads: whichever ingress takes the
 * request, every worker and every buyer's page sees it.
 */
import type { FastifyInstance } from 'fastify'
import type { CatalogDeps } from '../../catalog'
import { endEventNow, pauseEvent, resumeEvent, setLineMessage } from '../../catalog'
import { auditedBy } from '../admin-trail'
import { commonErrors, ok, okSchema } from '../envelope'
import type { JsonSchema } from '../envelope'
import { eventSchema, idParams } from '../schemas'

// Bounded here so a huge body is refused before it is read; the 280 characters are counted after
// trimming, by the catalog (src/catalog/sale-controls.ts).
const messageBody: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['text'],
  properties: { text: { type: 'string', maxLength: 1000 } }
}

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

  app.post<{ Params: { id: string }, Body: { text: string } }>('/events/:id/message', {
    config: { audit: { action: 'event.message', target: 'event' } },
    schema: {
      params: idParams,
      body: messageBody,
      response: { 200: okSchema(eventSchema), ...commonErrors },
      description: 'Sets the message every buyer of the sale reads on its page and in line (`line_message`, with `line_message_at` on MySQL\'s clock): plain text, 1-280 characters after trimming; an empty text clears it. 400 for a longer text or control characters.'
    }
  }, async (request) => ok(await setLineMessage(catalog, Number(request.params.id), request.body.text, auditedBy(request))))
}
