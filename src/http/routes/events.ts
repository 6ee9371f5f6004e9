import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Authenticator } from '../auth'
import { userOf } from '../auth'
import type { CatalogDeps } from '../../catalog'
import { cachedEventView, drawAnswers, startDrawView } from '../../catalog'
import { POW_HEADER, answerFromMemory, buy, issueBuyToken, issueChallenge, leaveWaitlist } from '../../sale'
import type { AdmissionDeps, Buyer, BuyTokenDeps, ChallengeDeps } from '../../sale'
import { PowChallengeSchema } from '../../shapes/api'
import { badRequest, notFound } from '../../shared/errors'
import type { EventCache } from '../../sale'
import { commonErrors, ok, okSchema } from '../envelope'
import { SHED } from '../load-shedding'
import { ID_PATTERN, checkIdempotencyKey, eventSchema, idParams, drawSchema, startDrawSchema, ticketSchema } from '../schemas'

export interface EventRouteDeps {
  readonly buyTokens: BuyTokenDeps
  readonly challenges: ChallengeDeps
  readonly catalog: CatalogDeps
  readonly admission: AdmissionDeps
  readonly cache: EventCache
  readonly auth: Authenticator
  readonly buyRateLimit: { max: number, timeWindow: number }
  /** Event reads this ingress does not hold yet (each one a MySQL query) per address per window. */
  readonly readLimit: { max: number, timeWindow: number }
}

const ID = new RegExp(ID_PATTERN)
const BUY_TOKEN = /^[A-Za-z0-9_-]{22}$/

export async function eventRoutes (app: FastifyInstance, deps: EventRouteDeps): Promise<void> {
  /**
   * The sale page's read, unauthenticated: answered from the event cache (the row at most
   * EVENT_CACHE_MS old, refreshed once per ttl whoever asks; `remaining` and the status live from
   * Redis), so a crowd reloading the page costs MySQL nothing. An id this ingress does not hold
   * (a first read, or a scan of ids) reaches MySQL once and is counted per address like the other
   * catalog reads that do; unknown ids are remembered briefly too.
   */
  app.get<{ Params: { id: string } }>('/events/:id', {
    config: {
      rateLimit: {
        ...deps.readLimit,
        keyGenerator: (r: FastifyRequest) => `read-ip:${r.ip}`,
        allowList: (r: FastifyRequest) => {
          const id = (r.params as { id?: unknown }).id
          return typeof id === 'string' && ID.test(id) && deps.cache.holds(Number(id))
        }
      }
    },
    schema: { params: idParams, response: { 200: okSchema(eventSchema), ...commonErrors } }
  }, async (request) => ok(await cachedEventView(deps.catalog, deps.cache, Number(request.params.id))))

  /**
   * A randomized start's draw, for anyone to check (README "Randomized start"): the commitment
   * from the start, the seed and each shard's placed order once every shard is placed. 409
   * NO_START_DRAW for a sale that places nobody by a draw. Read from MySQL: limited per address
   * like the other reads that reach it.
   */
  app.get<{ Params: { id: string } }>('/events/:id/start-draw', {
    config: { rateLimit: { ...deps.readLimit, keyGenerator: (r: FastifyRequest) => `read-ip:${r.ip}` } },
    schema: { params: idParams, response: { 200: okSchema(startDrawSchema), ...commonErrors } }
  }, async (request) => ok(await startDrawView(deps.catalog.events, Number(request.params.id))))

  /**
   * A draw's result, for anyone to check with the README's script ("A draw anyone can check"):
   * the commitment from the start, then the seed, the entries and the winners once drawn. 409
   * NO_DRAW for a sale that is not a draw. Read from MySQL: limited per address like /start-draw.
   * Once drawn the answer never changes: it is serialized once and kept (a few events, least
   * recently asked evicted), so a large draw costs a request the bytes only.
   */
  const draws = drawAnswers(deps.catalog.events)
  app.get<{ Params: { id: string } }>('/events/:id/draw', {
    config: { rateLimit: { ...deps.readLimit, keyGenerator: (r: FastifyRequest) => `read-ip:${r.ip}` } },
    schema: { params: idParams, response: { 200: okSchema(drawSchema), ...commonErrors } }
  }, async (request, reply) => {
    const data = await draws.json(Number(request.params.id))
    // Already serialized (a DrawView, typed where it is built): sent as it is.
    return await reply.type('application/json; charset=utf-8').send(`{"code":0,"message":"OK","data":${data}}`)
  })

  /**
   * Answered before validation when this ingress remembers the event as sold out and the buyer
   * holds no ticket: the answer costs a share of one batched confirmation in Redis.
   */
  const soldOutShortCircuit = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const id = (request.params as { id?: unknown }).id
    if (typeof id !== 'string' || !ID.test(id)) return
    const cached = deps.cache.peek(Number(id))
    if (cached === undefined) return
    const ticket = await answerFromMemory(deps.admission, cached, userOf(request).id, Date.now())
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
      headers: {
        type: 'object',
        properties: {
          'idempotency-key': { type: 'string' },
          'x-buy-token': { type: 'string' },
          [POW_HEADER]: { type: 'string', description: 'for a sale with proof_of_work: the solved challenge of GET /events/:id/challenge, base64 of {"challenge": <the challenge>, "solution": {"counter": n, "derivedKey": "<hex>"}} (ALTCHA\'s payload); spent by the buy, unless the buyer already holds a ticket' }
        }
      },
      response: { 200: okSchema(ticketSchema), 202: okSchema(ticketSchema), ...commonErrors }
    }
  }, async (request, reply) => {
    // A buy is idempotent per (buyer, event) whatever the key; a malformed key is still refused.
    checkIdempotencyKey(request.headers['idempotency-key'])
    const buyToken = request.headers['x-buy-token']
    if (buyToken !== undefined && (typeof buyToken !== 'string' || !BUY_TOKEN.test(buyToken))) throw badRequest('X-Buy-Token is malformed')
    // Read by admission only for a sale that needs a proof of work.
    const proofOfWork = request.headers[POW_HEADER]
    const buyer: Buyer = typeof proofOfWork === 'string' ? { ...userOf(request), proofOfWork } : userOf(request)
    const outcome = await buy(deps.admission, Number(request.params.id), buyer, buyToken)
    return await reply.code(outcome.kind === 'queued' ? 202 : 200).send(ok(outcome.ticket))
  })

  /** The buyer leaves the sale's waitlist: a unit that comes back goes to the next on it. */
  app.delete<{ Params: { id: string } }>('/events/:id/waitlist', {
    onRequest: deps.auth.required,
    config: { rateLimit: { ...deps.buyRateLimit, keyGenerator: (r: FastifyRequest) => `waitlist:${userOf(r).id}` } },
    schema: { params: idParams, response: { 204: { type: 'null' }, ...commonErrors } }
  }, async (request, reply) => {
    const cached = await deps.cache.get(Number(request.params.id))
    if (cached === undefined) throw notFound('EVENT_NOT_FOUND', 'event')
    await leaveWaitlist(deps.admission, cached.event, userOf(request).id)
    return await reply.code(204).send()
  })

  /**
   * A proof-of-work challenge for this buyer and this sale (a sale with proof_of_work), from
   * POW_LEAD_MS before the start: the page solves it while the buyer waits and sends it with the
   * buy. A new one each time; each is spent once.
   */
  app.get<{ Params: { id: string } }>('/events/:id/challenge', {
    onRequest: deps.auth.required,
    config: { rateLimit: { ...deps.buyRateLimit, keyGenerator: (r: FastifyRequest) => `challenge:${userOf(r).id}` } },
    schema: { params: idParams, response: { 200: okSchema(PowChallengeSchema), ...commonErrors } }
  }, async (request) => ok(await issueChallenge(deps.challenges, Number(request.params.id), userOf(request).id)))

  app.post<{ Params: { id: string } }>('/events/:id/token', {
    onRequest: deps.auth.required,
    config: { rateLimit: { ...deps.buyRateLimit, keyGenerator: (r: FastifyRequest) => `token:${userOf(r).id}` } },
    schema: {
      params: idParams,
      response: { 200: okSchema({ type: 'object', required: ['token', 'expires_at'], properties: { token: { type: 'string' }, expires_at: { type: 'string' } } }), ...commonErrors }
    }
  }, async (request) => ok(await issueBuyToken(deps.buyTokens, Number(request.params.id), userOf(request).id)))
}
