import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { Runtime } from '../../runtime'
import { errorSchema } from '../envelope'

export interface HealthState {
  shuttingDown: boolean
}

/**
 * `/metrics`: this process's Prometheus metrics (text format). On the metrics listener it is open
 * (that port is internal); on the API port only with `token` as a bearer token.
 */
export async function metricsRoute (app: FastifyInstance, opts: { rt: Runtime, token?: string }): Promise<void> {
  const expected = opts.token === undefined ? undefined : createHash('sha256').update(`Bearer ${opts.token}`).digest()
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    if (expected !== undefined) {
      const given = createHash('sha256').update(request.headers.authorization ?? '').digest()
      if (!timingSafeEqual(given, expected)) {
        return await reply.code(401).header('www-authenticate', 'Bearer').send({ code: 'UNAUTHORIZED', message: 'metrics need the metrics token', request_id: String(request.id) })
      }
    }
    const body = await opts.rt.metrics.registry.metrics()
    return await reply.type(opts.rt.metrics.registry.contentType).send(body)
  })
}

/** The API port's health routes: the probes, and `/metrics` when an operator gave it a token. */
export async function healthRoutes (app: FastifyInstance, opts: { rt: Runtime, state: HealthState }): Promise<void> {
  // Off the public port unless an operator gave a token for it (METRICS_TOKEN).
  if (opts.rt.config.metricsToken !== undefined) await app.register(metricsRoute, { rt: opts.rt, token: opts.rt.config.metricsToken })
  await app.register(probeRoutes, opts)
}

/**
 * `/healthz` (the process answers), `/readyz` (Redis and MySQL answer, not shutting down). On the
 * API port, and on every process's metrics listener (a worker has no other port to probe).
 */
export async function probeRoutes (app: FastifyInstance, opts: { rt: Runtime, state: HealthState }): Promise<void> {
  const { rt, state } = opts
  app.get('/healthz', { schema: { response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } },
    async () => ({ status: 'ok' }))

  app.get('/readyz', {
    schema: { response: { 200: { type: 'object', properties: { status: { type: 'string' } } }, 503: errorSchema } }
  }, async (request, reply) => {
    const problems: string[] = []
    if (state.shuttingDown) problems.push('shutting down')
    await Promise.all([
      rt.redis.ping().catch(() => { problems.push('redis') }),
      rt.db.raw('SELECT 1').catch(() => { problems.push('mysql') })
    ])
    if (problems.length > 0) {
      return await reply.code(503).send({ code: 'SHUTTING_DOWN', message: `not ready: ${problems.join(', ')}`, request_id: String(request.id) })
    }
    return { status: 'ready' }
  })
}
