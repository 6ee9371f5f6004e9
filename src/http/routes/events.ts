import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Authenticator } from '../auth'
import { userOf } from '../auth'
import type { CatalogDeps } from '../../domain/catalog'
import { getEvent } from '../../domain/catalog'
import { buy, issueBuyToken, localSoldOut } from '../../domain/admission'
import type { AdmissionDeps, BuyTokenDeps } from '../../domain/admission'
import { badRequest } from '../../domain/errors'
import type { EventCache } from '../../domain/event-cache'
import { commonErrors, errorSchema, ok, okSchema } from '../envelope'
import { SHED } from '../load-shedding'
import { ID_PATTERN, checkIdempotencyKey, eventSchema, idParams, ticketSchema } from '../schemas'

export interface EventRouteDeps {
  readonly buyTokens: BuyTokenDeps
  readonly catalog: CatalogDeps
  readonly admission: AdmissionDeps
  readonly cache: EventCache
  readonly auth: Authenticator
  readonly buyRateLimit: { max: number, timeWindow: number }
}

const ID = new RegExp(ID_PATTERN)
const BUY_TOKEN = /^[A-Za-z0-9_-]{22}$/

export async function eventRoutes (app: FastifyInstance, deps: EventRouteDeps): Promise<void> {
  app.get<{ Params: { id: string } }>('/events/:id', {
    schema: { params: idParams, response: { 200: okSchema(eventSchema), 400: errorSchema, 404: errorSchema } }
  }, async (request) => ok(await getEvent(deps.catalog, Number(request.params.id))))

  /**
   * Answered before validation when the event is announced sold out and the buyer holds no ticket:
   * that answer costs no Redis round trip.
   */
  const soldOutShortCircuit = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const id = (request.params as { id?: unknown }).id
    if (typeof id !== 'string' || !ID.test(id)) return
    const cached = deps.cache.peek(Number(id))
    if (cached === undefined) return
    const ticket = localSoldOut(deps.admission, cached, userOf(request).id, Date.now())
    if (ticket !== undefined) await reply.code(200).send(ok(ticket))
  }

  app.post<{ Params: { id: string } }>('/events/:id/buy', {
    onRequest: deps.auth.requiredOnce,
    preValidation: soldOutShortCircuit,
    config: SHED,
    // The buyer's rate limit is counted by the admission script itself (BUY rate limit, per event):
    // a buy that reaches Redis makes one round trip, and one answered from memory costs none.
    schema: {
      params: idParams,
      headers: { type: 'object', properties: { 'idempotency-key': { type: 'string' }, 'x-buy-token': { type: 'string' } } },
      response: { 200: okSchema(ticketSchema), 202: okSchema(ticketSchema), ...commonErrors }
    }
  }, async (request, reply) => {
    // A buy is idempotent per (buyer, event) whatever the key; a malformed key is still refused.
    checkIdempotencyKey(request.headers['idempotency-key'])
    const buyToken = request.headers['x-buy-token']
    if (buyToken !== undefined && (typeof buyToken !== 'string' || !BUY_TOKEN.test(buyToken))) throw badRequest('X-Buy-Token is malformed')
    const outcome = await buy(deps.admission, Number(request.params.id), userOf(request).id, buyToken)
    return await reply.code(outcome.kind === 'queued' ? 202 : 200).send(ok(outcome.ticket))
  })

  app.post<{ Params: { id: string } }>('/events/:id/token', {
    onRequest: deps.auth.required,
    config: { rateLimit: { ...deps.buyRateLimit, keyGenerator: (r: FastifyRequest) => `token:${userOf(r).id}` } },
    schema: {
      params: idParams,
      response: { 200: okSchema({ type: 'object', required: ['token', 'expires_at'], properties: { token: { type: 'string' }, expires_at: { type: 'string' } } }), ...commonErrors }
    }
  }, async (request) => ok(await issueBuyToken(deps.buyTokens, Number(request.params.id), userOf(request).id)))
}
