import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Authenticator } from '../auth'
import { userOf } from '../auth'
import { buyersTicket, waitForTicket } from '../../sale'
import type { TicketReaderDeps } from '../../sale'
import { commonErrors, ok, okSchema } from '../envelope'
import { idParams, ticketParams, ticketSchema } from '../schemas'
import { SHED } from '../load-shedding'

export interface TicketRouteDeps {
  readonly reader: TicketReaderDeps
  readonly auth: Authenticator
  readonly waitMaxMs: number
  /** False while the ingress stops: polls are answered at once. */
  readonly waitAllowed?: () => boolean
  readonly pollRateLimit: { max: number, timeWindow: number }
}

export async function ticketRoutes (app: FastifyInstance, deps: TicketRouteDeps): Promise<void> {
  // Both reads of a ticket count against the buyer's poll quota.
  const pollLimit = { ...deps.pollRateLimit, keyGenerator: (r: FastifyRequest) => `poll:${userOf(r).id}` }
  app.get<{ Params: { id: string }, Querystring: { wait?: number } }>('/tickets/:id', {
    onRequest: deps.auth.crowd,
    config: { rateLimit: pollLimit, ...SHED },
    schema: {
      params: ticketParams,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { wait: { type: 'integer', minimum: 0, maximum: deps.waitMaxMs } }
      },
      response: { 200: okSchema(ticketSchema), ...commonErrors }
    }
  }, async (request, reply) => {
    const user = userOf(request)
    const ticket = await waitForTicket(deps.reader, request.params.id, { userId: user.id, isAdmin: user.role === 'admin' }, deps.waitAllowed?.() === false ? 0 : request.query.wait ?? 0)
    // A long-poll released by a stop began before it: its answer, too, tells the client to go.
    if (deps.waitAllowed?.() === false) reply.header('connection', 'close')
    return ok(ticket)
  })

  // The signed-in buyer's own ticket for a sale (a reloaded page resumes from it).
  app.get<{ Params: { id: string } }>('/events/:id/ticket', {
    onRequest: deps.auth.crowd,
    config: { rateLimit: pollLimit, ...SHED },
    schema: {
      params: idParams,
      response: { 200: okSchema(ticketSchema), ...commonErrors }
    }
  }, async (request) => {
    return ok(await buyersTicket(deps.reader, Number(request.params.id), { userId: userOf(request).id, isAdmin: false }))
  })
}
