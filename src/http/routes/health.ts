import type { FastifyInstance } from 'fastify'
import type { Runtime } from '../../runtime'
import { errorSchema } from '../envelope'

export interface HealthState {
  shuttingDown: boolean
}

/** `/healthz` (the process answers), `/readyz` (Redis and MySQL answer, not shutting down). */
/** `/metrics`: this process's Prometheus metrics (text format). */
export async function metricsRoute (app: FastifyInstance, opts: { rt: Runtime }): Promise<void> {
  app.get('/metrics', async (_request, reply) => {
    const body = await opts.rt.metrics.registry.metrics()
    return await reply.type(opts.rt.metrics.registry.contentType).send(body)
  })
}

export async function healthRoutes (app: FastifyInstance, opts: { rt: Runtime, state: HealthState }): Promise<void> {
  const { rt, state } = opts
  await app.register(metricsRoute, { rt })
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
