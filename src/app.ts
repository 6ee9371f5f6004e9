/**
 * Builds the ingress: the Fastify app and what it needs beside the shared runtime (the outcome
 * subscriber for long-polls and sold-out announcements, the event cache).
 */
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { LogController } from 'fastify'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import { tracingStarted, nameRequestSpan } from './tracing/spans'
import { LatencyWindow } from './http/latency-window'
import { webRoutes } from './http/routes/web'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import helmet from '@fastify/helmet'
import { API_HEADERS, pageSecurityHeaders, withApiSecurityHeaders } from './http/security-headers'
import type { Runtime } from './runtime'
import { createAuthenticator, createTokenSigner } from './http/auth'
import type { AccountDeps } from './domain/accounts'
import { refreshKeyFrom } from './domain/accounts'
import { authRoutes } from './http/routes/auth'
import { lingerUntilBodyRead } from './http/lingering-close'
import { registerLoadShedding } from './http/load-shedding'
import { createErrorHandler } from './http/error-handler'
import { SecurityEvents } from './http/security-events'
import { validatorCompiler } from './http/validation'
import { DomainError } from './domain/errors'
import { EventCache } from './domain/event-cache'
import { FinalTickets } from './domain/final-tickets'
import { quotaStore } from './http/quota-store'
import { OutcomeBus } from './domain/outcome-bus'
import { RejectionLog } from './domain/rejection-log'
import type { CatalogDeps } from './domain/catalog'
import { healthRoutes } from './http/routes/health'
import type { HealthState } from './http/routes/health'
import { adminRoutes } from './http/routes/admin'
import { eventRoutes } from './http/routes/events'
import { ticketRoutes } from './http/routes/tickets'
import { orderRoutes } from './http/routes/orders'
import { catalogRoutes } from './http/routes/catalog'
import { CatalogCache } from './domain/catalog-cache'

export interface Ingress {
  readonly app: FastifyInstance
  readonly cache: EventCache
  readonly bus: OutcomeBus
  readonly state: HealthState
  /** Stops admitting (503), lets requests in flight finish, closes what the ingress opened. */
  close: () => Promise<void>
}

const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,64}$/

async function openConnections (app: FastifyInstance): Promise<number> {
  return await new Promise((resolve) => { app.server.getConnections((err, n) => resolve(err === null ? n : 0)) })
}

export async function buildIngress (rt: Runtime): Promise<Ingress> {
  const { config, log } = rt
  const state: HealthState = { shuttingDown: false }
  const sale = { redis: rt.redis, keys: rt.keys }
  const rejections = new RejectionLog(rt.redis, rt.keys, log)
  const cache = new EventCache({ repo: rt.events, sale, ttlMs: config.eventCacheMs, log, beforeReopen: async () => { await rejections.flush() } })
  const catalogCache = new CatalogCache(config.catalogCacheMs)
  const finals = new FinalTickets(config.finalTicketCache)
  const bus = new OutcomeBus(rt.connect('outcomes'), rt.keys, {
    onSoldOut: (id) => { cache.markSoldOut(id).catch((err: unknown) => log.warn({ err, eventId: id }, 'loading holders failed')) },
    // Buyers already answered sold_out are written down before the gate reopens to anyone.
    onReopened: (id) => { void rejections.flush().finally(() => cache.clearSoldOut(id)) },
    // A retired sale keeps nothing here: its cached row, its final tickets.
    onRetired: (id) => {
      cache.forget(id)
      finals.forgetEvent(id)
    },
    onCatalogChanged: (what) => {
      catalogCache.clear()
      if (what.startsWith('event:')) cache.forget(Number(what.slice(6)))
    }
  }, log, { maxWaiting: config.maxWaiting, perBuyer: config.pollsPerBuyer })
  await bus.start()
  rt.metrics.watch({ waiting: { waiting: () => ({ waiting: bus.waiting, max: config.maxWaiting }) } })

  const app: FastifyInstance = Fastify({
    return503OnClosing: false,
    // A slow client (a header byte a second) is cut within seconds: headers and the whole request
    // have deadlines, checked every second. Long-polls are not affected (their request is whole
    // at once; the wait is the answer's).
    http: { headersTimeout: config.headersTimeoutMs, requestTimeout: config.requestTimeoutMs, connectionsCheckingInterval: 1000 },
    requestTimeout: config.requestTimeoutMs,
    loggerInstance: log as FastifyBaseLogger,
    // Per-request access logs would cost more than the buy itself under a crowd; errors are logged.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    bodyLimit: 16 * 1024,
    // Off unless configured: otherwise anyone could pick the address the per-IP limits count.
    trustProxy: config.trustProxy as FastifyServerOptions['trustProxy'],
    routerOptions: { maxParamLength: 128 },
    // Errors the router raises before any hook (an over-long path parameter, a malformed URL): the
    // same envelope as every other error. The request's body was not read, so its connection
    // cannot carry another request.
    frameworkErrors: (error, request, reply) => {
      if (request.headers['content-length'] !== undefined || request.headers['transfer-encoding'] !== undefined) reply.header('connection', 'close')
      const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400
      void (reply as FastifyReply).header('x-request-id', String(request.id)).code(status).send({ code: 'BAD_REQUEST', message: error.message, request_id: String(request.id) })
    },
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    }
  })
  app.setValidatorCompiler(validatorCompiler)
  // With tracing on, the request's server span is named by its Fastify route (GET /api/v1/tickets/:id).
  if (tracingStarted()) app.addHook('onRequest', nameRequestSpan)
  app.decorateRequest('user', undefined)
  const securityEvents = new SecurityEvents(rt.metrics.securityEvents)
  const onAudited = (request: FastifyRequest, action: string): void => { securityEvents.record(request, 'admin_write', { action }) }
  app.setErrorHandler(createErrorHandler((request, code) => { securityEvents.onError(request, code) }))
  app.setNotFoundHandler(async (request, reply) => {
    await reply.code(404).headers(API_HEADERS).send({ code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}`, request_id: String(request.id) })
  })
  app.addHook('onSend', lingerUntilBodyRead)
  await registerLoadShedding(app, {
    maxInFlight: config.overloadMaxInFlight,
    eventLoopDelayMs: config.overloadEventLoopDelayMs,
    heapMiB: config.overloadHeapMiB,
    onShed: (route, reason) => rt.metrics.shed.inc({ route, reason })
  })
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', String(request.id))
    // While draining, requests still arriving on open connections are served (a reload drops
    // none), and the client is told to reconnect, which lands it on a live instance.
    if (state.shuttingDown) reply.header('connection', 'close')
  })

  // The API's fixed security headers on its routes but the crowd's four; the pages and the docs get
  // @fastify/helmet's full set in their own scope (see src/http/security-headers.ts).
  app.addHook('onRoute', withApiSecurityHeaders)

  // OpenAPI from the route schemas, served at /docs (UI) and /docs/json (the document).
  await app.register(swagger, {
    openapi: {
      info: { title: 'seckill flash-sale API', version: '1', description: 'Success: {code: 0, message: "OK", data}. Error: {code: "<STABLE_CODE>", message, request_id}.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }]
    }
  })
  await app.register(async (pages) => {
    await pages.register(helmet, pageSecurityHeaders)
    // Swagger UI inserts <style> elements: inline styles are allowed on /docs alone (never scripts).
    await pages.register(swaggerUi, { routePrefix: '/docs', transformStaticCSP: (header) => header.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'") })
    await pages.register(webRoutes)
  })

  await app.register(rateLimit, {
    global: false,
    hook: 'preHandler',
    // Exact across processes, one Redis call per block of a key's requests (see quota-store.ts).
    store: quotaStore(rt.redis, rt.keys.rateLimit),
    skipOnError: true,
    // A refused request carries Retry-After; an accepted one carries no quota headers (three
    // headers on every buy and poll of a crowd, which clients do not read).
    addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
    addHeaders: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false, 'retry-after': true },
    errorResponseBuilder: (_req, ctx) => new DomainError('RATE_LIMITED', `too many requests; retry in ${ctx.after}`)
  })

  const auth = createAuthenticator(rt.jwtSecret)
  const accounts: AccountDeps = {
    users: rt.users,
    redis: rt.redis,
    keys: rt.keys,
    signAccess: createTokenSigner(rt.jwtSecret, config.accessTokenTtlMs),
    accessTtlMs: config.accessTokenTtlMs,
    refreshTtlMs: config.refreshTokenTtlMs,
    refreshKey: refreshKeyFrom(rt.jwtSecret),
    refreshGraceMs: config.refreshGraceMs
  }
  const catalog: CatalogDeps = {
    events: rt.events,
    products: rt.products,
    sale,
    cache: catalogCache,
    changed: async (what) => { await rt.redis.publish(rt.keys.catalogChannel, what) }
  }
  const window = { timeWindow: config.rateWindowMs }

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unknown'
    rt.metrics.httpDuration.observe({ route, method: request.method, status: String(reply.statusCode) }, reply.elapsedTime / 1000)
  })
  await app.register(healthRoutes, { rt, state })
  await app.register(async (api) => {
    await api.register(adminRoutes, {
      prefix: '/admin',
      catalog,
      auth,
      lifecycle: rt.lifecycle,
      leaseMs: config.leaseMs,
      buyLatency: new LatencyWindow(rt.metrics.httpDuration, '/api/v1/events/:id/buy'),
      bans: { users: rt.users, redis: rt.redis, keys: rt.keys, listLive: rt.events.listLive },
      db: rt.db,
      onAudited
    })
    await api.register(orderRoutes, { lifecycle: rt.lifecycle, auth, db: rt.db, onAudited })
    await api.register(catalogRoutes, { catalog, readLimit: { max: config.readRateLimit, ...window } })
    await api.register(authRoutes, { accounts, auth, loginLimit: { max: config.loginRateLimit, ...window } })
    await api.register(eventRoutes, {
      catalog,
      cache,
      auth,
      buyRateLimit: { max: config.buyRateLimit, ...window },
      buyTokens: { redis: rt.redis, keys: rt.keys, events: cache, leadMs: config.buyTokenLeadMs, ttlMs: config.buyTokenTtlMs },
      admission: {
        redis: rt.redis,
        keys: rt.keys,
        events: cache,
        repo: rt.events,
        overbook: config.gateOverbook,
        rateLimit: { max: config.buyRateLimit, ...window },
        rejections,
        cluster: config.redisClusterNodes.length > 0,
        onShardReset: () => rt.metrics.failoverResets.inc({ by: 'ingress' }),
        onOutcome: (outcome) => rt.metrics.buys.inc({ outcome }),
        onAdmitTime: (seconds) => rt.metrics.admitSeconds.observe(seconds),
        log
      }
    })
    await api.register(ticketRoutes, {
      auth,
      reader: { redis: rt.redis, keys: rt.keys, events: cache, bus, orders: rt.orders, finals, onWaitRefused: (reason) => rt.metrics.pollsRefused.inc({ reason }) },
      waitMaxMs: config.ticketWaitMaxMs,
      // A stopping ingress holds no new long-poll: it answers with the ticket as it is.
      waitAllowed: () => !state.shuttingDown,
      pollRateLimit: { max: config.pollRateLimit, ...window }
    })
  }, { prefix: '/api/v1' })

  return {
    app,
    cache,
    bus,
    state,
    async close () {
      state.shuttingDown = true
      // Long-polls answer now (with Connection: close), so their clients leave with the rest.
      bus.release()
      // Drain: answers now carry Connection: close, so clients leave; closing while they still
      // reuse idle keep-alive sockets would reset their requests.
      const deadline = Date.now() + config.shutdownDrainMs
      while (Date.now() < deadline && await openConnections(app) > 0) await sleep(100)
      await bus.close()
      await app.close()
      await rejections.close()
      cache.close()
    }
  }
}
