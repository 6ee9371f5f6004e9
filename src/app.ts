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
import { SharedLatency } from './http/shared-latency'
import { webRoutes } from './http/routes/web'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import helmet from '@fastify/helmet'
import { API_HEADERS, pageSecurityHeaders, withApiSecurityHeaders } from './http/security-headers'
import type { Runtime } from './runtime'
import { createAuthenticator, createTokenSigner } from './http/auth'
import type { AccountDeps } from './identity'
import { refreshKeyFrom } from './identity'
import type { SessionCache } from './identity'
import { authRoutes } from './http/routes/auth'
import { lingerUntilBodyRead } from './http/lingering-close'
import { warnAtStart, watchForUntrustedProxy } from './http/proxy-hint'
import { registerLoadShedding } from './http/load-shedding'
import { createErrorHandler } from './http/error-handler'
import { SecurityEvents } from './http/security-events'
import { validatorCompiler } from './http/validation'
import { DomainError } from './shared/errors'
import { DrainPace, EventCache, powKeyFrom } from './sale'
import { FinalTickets } from './sale'
import { quotaStore } from './http/quota-store'
import { OutcomeBus } from './sale'
import { SoldOutAnswers } from './sale'
import type { CatalogDeps } from './catalog'
import { healthRoutes } from './http/routes/health'
import type { HealthState } from './http/routes/health'
import { adminRoutes } from './http/routes/admin'
import { eventRoutes } from './http/routes/events'
import { emailRoutes } from './http/routes/email'
import { smtpMailer } from './mail/mailer'
import type { Mailer } from './mail/mailer'
import { startSmtpCatcher } from './mail/smtp-catcher'
import type { SmtpCatcher } from './mail/smtp-catcher'
import { ticketRoutes } from './http/routes/tickets'
import { orderRoutes } from './http/routes/orders'
import { catalogRoutes } from './http/routes/catalog'
import { siteRoutes } from './http/routes/site'
import { adminPaymentRoutes, paymentRoutes, webhookRoutes } from './http/routes/payments'
import { localPayRoutes } from './http/routes/local-pay'
import { CatalogCache } from './catalog'

export interface Ingress {
  readonly app: FastifyInstance
  readonly cache: EventCache
  readonly bus: OutcomeBus
  readonly state: HealthState
  /** The local SMTP catcher (development and tests, when SMTP_URL is unset): the mails sent. */
  readonly mail: SmtpCatcher | undefined
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
  const soldOutAnswers = new SoldOutAnswers(rt.redis, rt.keys, log)
  const cache = new EventCache({ repo: rt.events, sale, ttlMs: config.eventCacheMs, log })
  const catalogCache = new CatalogCache(config.catalogCacheMs)
  // Mail: the deployment's relay, or (outside production) a catcher of our own, so `npm start` and
  // the tests need nothing else. Production without SMTP_URL cannot send codes (503).
  let catcher: SmtpCatcher | undefined
  let mailer: Mailer | undefined
  if (config.smtpUrl !== undefined) {
    mailer = smtpMailer(config.smtpUrl, config.mailFrom)
  } else if (config.nodeEnv !== 'production') {
    catcher = await startSmtpCatcher((mail) => {
      // How a developer reads a code (its subject); tests read the catcher itself.
      if (config.nodeEnv === 'development') log.info({ to: mail.to, subject: mail.subject }, 'mail caught by the local SMTP catcher (SMTP_URL is unset)')
    })
    mailer = smtpMailer(catcher.url, config.mailFrom)
  }
  const finals = new FinalTickets(config.finalTicketCache)
  const bus = new OutcomeBus(rt.connect('outcomes'), rt.keys, {
    onSoldOut: (id) => { cache.markSoldOut(id).catch((err: unknown) => log.warn({ err, eventId: id }, 'loading holders failed')) },
    onReopened: (id) => { cache.clearSoldOut(id) },
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
    onShed: (route, reason) => rt.metrics.shed.inc({ route, reason }),
    exempt: (request) => {
      const id = (request.params as { id?: unknown } | undefined)?.id
      return request.method === 'POST' && typeof id === 'string' && request.routeOptions.url?.endsWith('/events/:id/buy') === true && cache.answersSoldOut(Number(id))
    }
  })
  // A callback hook, not an async one: it runs on every request, and costs no promise each.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', String(request.id))
    // While draining, requests still arriving on open connections are served (a reload drops
    // none), and the client is told to reconnect, which lands it on a live instance.
    if (state.shuttingDown) reply.header('connection', 'close')
    done()
  })

  // The API's fixed security headers on its routes but the crowd's four; the pages and the docs get
  // @fastify/helmet's full set in their own scope (see src/http/security-headers.ts).
  app.addHook('onRoute', withApiSecurityHeaders)
  // Production behind a proxy that is not trusted: said once, in the log (src/http/proxy-hint.ts).
  warnAtStart(config, log)
  watchForUntrustedProxy(app, config, log)

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
    const local = rt.payments.local
    if (local !== undefined) await pages.register(localPayRoutes, { local })
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

  const sessions: SessionCache = { redis: rt.redis, keys: rt.keys, ttlMs: config.accessTokenTtlMs }
  const auth = createAuthenticator(rt.jwtSecret, { ...sessions, generationOf: rt.users.sessionGen })
  const accounts: AccountDeps = {
    users: rt.users,
    redis: rt.redis,
    keys: rt.keys,
    signAccess: createTokenSigner(rt.jwtSecret, config.accessTokenTtlMs),
    accessTtlMs: config.accessTokenTtlMs,
    refreshTtlMs: config.refreshTokenTtlMs,
    refreshAbsoluteTtlMs: config.refreshAbsoluteTtlMs,
    sessions,
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
  const powKey = powKeyFrom(rt.jwtSecret)
  // Every ingress adds its buys' latencies to Redis once a second: the operator's p99 covers all.
  const buyLatency = new SharedLatency(rt.redis, rt.keys, rt.metrics.httpDuration, '/api/v1/events/:id/buy')
  buyLatency.start()

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
      buyLatency,
      bans: { users: rt.users, redis: rt.redis, keys: rt.keys, listLive: rt.events.listLive, sessions },
      db: rt.db,
      onAudited
    })
    await api.register(orderRoutes, { lifecycle: rt.lifecycle, auth, db: rt.db, onAudited })
    await api.register(paymentRoutes, { payments: rt.payments.deps, auth })
    await api.register(webhookRoutes, { payments: rt.payments.deps })
    await api.register(adminPaymentRoutes, { prefix: '/admin', payments: rt.payments.deps, auth, db: rt.db, onAudited })
    await api.register(catalogRoutes, { catalog, readLimit: { max: config.readRateLimit, ...window } })
    await api.register(siteRoutes, { currency: rt.payments.deps.currency })
    await api.register(authRoutes, { accounts, auth, loginLimit: { max: config.loginRateLimit, ...window }, registerLimit: { max: config.registerRateLimit, ...window } })
    await api.register(emailRoutes, {
      verification: { db: rt.db, redis: rt.redis, keys: rt.keys, mailer, accounts },
      auth,
      limit: { max: config.loginRateLimit, ...window }
    })
    await api.register(eventRoutes, {
      catalog,
      cache,
      auth,
      buyRateLimit: { max: config.buyRateLimit, ...window },
      readLimit: { max: config.readRateLimit, ...window },
      buyTokens: { redis: rt.redis, keys: rt.keys, events: cache, leadMs: config.buyTokenLeadMs, ttlMs: config.buyTokenTtlMs },
      challenges: { redis: rt.redis, events: cache, key: powKey, leadMs: config.powLeadMs, ttlMs: config.powTtlMs },
      admission: {
        redis: rt.redis,
        keys: rt.keys,
        events: cache,
        repo: rt.events,
        overbook: config.gateOverbook,
        rateLimit: { max: config.buyRateLimit, ...window },
        soldOutAnswers,
        cluster: config.redisClusterNodes.length > 0,
        onShardReset: () => rt.metrics.failoverResets.inc({ by: 'ingress' }),
        onOutcome: (outcome) => rt.metrics.buys.inc({ outcome }),
        onAdmitTime: (seconds) => rt.metrics.admitSeconds.observe(seconds),
        powKey,
        log
      }
    })
    await api.register(ticketRoutes, {
      auth,
      reader: { redis: rt.redis, keys: rt.keys, events: cache, bus, orders: rt.orders, finals, pace: new DrainPace(rt.redis, rt.keys), onWaitRefused: (reason) => rt.metrics.pollsRefused.inc({ reason }) },
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
    mail: catcher,
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
      await buyLatency.close()
      soldOutAnswers.close()
      cache.close()
      mailer?.close()
      await catcher?.close()
    }
  }
}
