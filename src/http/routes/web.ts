/**
 * The buyer page (`/`) and the operator page (`/ops`), built by `npm run build` from `src/web/`
 * into `dist/web/`, served by @fastify/static: the hashed assets under `/assets/` are cached for
 * a year (immutable), the pages themselves are always revalidated. Files are read from disk per
 * request, so a rebuilt page (`npm run dev`) is served without a restart.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { repoPath } from '../../util/paths'

/** A lightning bolt on the pages' blue: the tab of a flash sale. */
const FAVICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1f5fbf"/><path d="M18 3 7 18h7l-2 11 11-15h-7z" fill="#fff"/></svg>\n'

export async function webRoutes (app: FastifyInstance): Promise<void> {
  const root = repoPath('dist', 'web')
  // Swagger UI registers its own copy in a sibling scope; this one adds `reply.sendFile` here.
  await app.register(fastifyStatic, {
    root,
    prefix: '/assets/',
    serve: false,
    decorateReply: true
  })
  await app.register(fastifyStatic, {
    root: join(root, 'assets'),
    prefix: '/assets/',
    decorateReply: false,
    immutable: true,
    maxAge: '365d',
    index: false,
    dotfiles: 'deny',
    // Pages, not API: kept out of the OpenAPI document.
    schemaHide: true
  })
  const page = (name: string) => async (_request: unknown, reply: FastifyReply) => {
    if (!existsSync(join(root, name))) {
      return await reply.code(503).type('text/plain; charset=utf-8').send('The web pages are not built; run `npm run build`.\n')
    }
    return await reply.header('cache-control', 'no-cache').sendFile(name, { cacheControl: false })
  }
  // Browsers ask for /favicon.ico whatever the page says: one small SVG answers both names.
  const icon = async (_request: unknown, reply: FastifyReply) => await reply.header('cache-control', 'public, max-age=86400').type('image/svg+xml').send(FAVICON)
  app.get('/favicon.ico', { schema: { hide: true } }, icon)
  app.get('/favicon.svg', { schema: { hide: true } }, icon)
  app.get('/', { schema: { hide: true } }, page('index.html'))
  app.get('/ops', { schema: { hide: true } }, page('ops.html'))
}
