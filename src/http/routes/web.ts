/**
 * The buyer page (`/`) and the operator page (`/ops`), built by `npm run build` from `src/web/`
 * into `dist/web/`. The files are read once at start and answered from memory; hashed assets are
 * cached for a year, the pages themselves are always revalidated.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { extname, join } from 'node:path'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { repoPath } from '../../util/paths'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon'
}

interface WebFile {
  readonly body: Buffer
  readonly type: string
}

function loadAssets (dir: string): Map<string, WebFile> {
  const files = new Map<string, WebFile>()
  if (!existsSync(dir)) return files
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)]
    if (type !== undefined) files.set(name, { body: readFileSync(join(dir, name)), type })
  }
  return files
}

export async function webRoutes (app: FastifyInstance): Promise<void> {
  const root = repoPath('dist', 'web')
  const pages = loadAssets(root)
  const assets = loadAssets(join(root, 'assets'))

  const page = (name: string) => async (_request: unknown, reply: FastifyReply) => {
    const file = pages.get(name)
    if (file === undefined) {
      return await reply.code(503).type('text/plain; charset=utf-8').send('The web pages are not built; run `npm run build`.\n')
    }
    return await reply.type(file.type).header('cache-control', 'no-cache').send(file.body)
  }
  // Pages, not API: kept out of the OpenAPI document.
  app.get('/', { schema: { hide: true } }, page('index.html'))
  app.get('/ops', { schema: { hide: true } }, page('ops.html'))
  app.get<{ Params: { file: string } }>('/assets/:file', {
    schema: { hide: true, params: { type: 'object', required: ['file'], properties: { file: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,100}$' } } } }
  }, async (request, reply) => {
    const file = assets.get(request.params.file)
    if (file === undefined) return await reply.code(404).type('text/plain; charset=utf-8').send('not found\n')
    return await reply.type(file.type).header('cache-control', 'public, max-age=31536000, immutable').send(file.body)
  })
}
