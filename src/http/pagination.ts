/**
 * Pagination of list routes: `page` (from 1), `page_size` (1–100, default 20) and
 * `sort=field,asc|desc` over a whitelist of fields.
 */
import { badRequest } from '../shared/errors'
import type { PageRequest } from '../shared/page'
import type { JsonSchema } from './envelope'

export interface PageQuery {
  page?: number
  page_size?: number
  sort?: string
}

export const pageQueryProperties: Record<string, JsonSchema> = {
  page: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1 },
  page_size: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
  sort: { type: 'string', pattern: '^[a-z_]{1,32}(,(asc|desc))?$' }
}

export function pageRequest<F extends string> (q: PageQuery, fields: readonly F[], fallback: F, fallbackDirection: 'asc' | 'desc' = 'desc'): PageRequest<F> {
  let field = fallback
  let direction = fallbackDirection
  if (q.sort !== undefined) {
    const [f, d] = q.sort.split(',') as [string, string | undefined]
    if (!(fields as readonly string[]).includes(f)) throw badRequest(`sort must be one of ${fields.join(', ')}`)
    field = f as F
    direction = d === 'asc' ? 'asc' : d === 'desc' ? 'desc' : fallbackDirection
  }
  return { page: q.page ?? 1, pageSize: q.page_size ?? 20, sort: { field, direction } }
}

export function pageSchema (item: JsonSchema): JsonSchema {
  return {
    type: 'object',
    required: ['items', 'page', 'page_size', 'total'],
    properties: { items: { type: 'array', items: item }, page: { type: 'integer' }, page_size: { type: 'integer' }, total: { type: 'integer' } }
  }
}
