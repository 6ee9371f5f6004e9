/**
 * The benchmark's baseline: a plain Fastify route answering a small JSON, started beside the
 * service in the same run so every figure can be given as a ratio to what this machine does
 * with no work at all.
 */
import Fastify from 'fastify'

async function main (): Promise<void> {
  const app = Fastify({ logger: false })
  app.get('/baseline', {
    schema: { response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } } }
  }, async () => ({ ok: true }))
  const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) })
  process.stdout.write(`listening ${address}\n`)
  process.on('SIGTERM', () => { void app.close().then(() => process.exit(0)) })
}

void main()
