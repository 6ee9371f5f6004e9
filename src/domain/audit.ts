/**
 * The admin audit trail (`admin_audit`): every admin write -- products, events, an order cancelled
 * for a buyer, bans, role changes -- with who made it (null: the environment or create-admin),
 * from which address, under which request id, and what was asked. Written before the admin is
 * answered; read at GET /api/v1/admin/audit, newest first.
 */
import type { Knex } from 'knex'
import type { Page, PageRequest } from './orders'

export type AuditAction =
  | 'product.create' | 'product.update' | 'product.delete'
  | 'event.create' | 'event.update' | 'event.delete' | 'event.warmup'
  | 'order.cancel'
  | 'user.ban' | 'user.unban' | 'user.role'

export interface AuditRecord {
  readonly actorId: string | null
  readonly action: AuditAction
  readonly targetType: 'product' | 'event' | 'order' | 'user'
  readonly targetId: string | null
  /** What was asked (the request body, or what the change was); never a password or token. */
  readonly detail?: unknown
  readonly requestId?: string
  readonly address?: string
}

export interface AuditView {
  readonly id: string
  readonly at: string
  readonly actor_id: string | null
  readonly action: string
  readonly target_type: string
  readonly target_id: string | null
  readonly detail: unknown
  readonly request_id: string | null
  readonly address: string | null
}

export interface AuditFilter {
  readonly action?: string
  readonly actorId?: string
  readonly targetType?: string
  readonly targetId?: string
}

/** Longest detail kept (a product description can be long; the trail need not hold all of it). */
const DETAIL_MAX = 2000

export async function recordAudit (db: Knex | Knex.Transaction, r: AuditRecord): Promise<void> {
  const detail = r.detail === undefined ? null : JSON.stringify(r.detail).slice(0, DETAIL_MAX)
  await db('admin_audit').insert({
    actor_id: r.actorId,
    action: r.action,
    target_type: r.targetType,
    target_id: r.targetId,
    detail,
    request_id: r.requestId ?? null,
    address: r.address?.slice(0, 64) ?? null
  })
}

interface AuditRow { id: number | string, at: Date, actor_id: number | string | null, action: string, target_type: string, target_id: string | null, detail: string | null, request_id: string | null, address: string | null }

function parseDetail (detail: string | null): unknown {
  if (detail === null) return null
  try {
    return JSON.parse(detail)
  } catch {
    return detail // cut at DETAIL_MAX
  }
}

export async function listAudit (db: Knex, filter: AuditFilter, p: PageRequest<'at'>): Promise<Page<AuditView>> {
  const q = db('admin_audit')
  if (filter.action !== undefined) q.where({ action: filter.action })
  if (filter.actorId !== undefined) q.where({ actor_id: filter.actorId })
  if (filter.targetType !== undefined) q.where({ target_type: filter.targetType })
  if (filter.targetId !== undefined) q.where({ target_id: filter.targetId })
  const [{ n }] = await q.clone().count({ n: '*' }) as [{ n: number | string }]
  const rows = await q.select('*').orderBy('at', p.sort.direction).orderBy('id', p.sort.direction).limit(p.pageSize).offset((p.page - 1) * p.pageSize) as AuditRow[]
  return {
    total: Number(n),
    page: p.page,
    page_size: p.pageSize,
    items: rows.map((r) => ({
      id: String(r.id),
      at: r.at.toISOString(),
      actor_id: r.actor_id === null ? null : String(r.actor_id),
      action: r.action,
      target_type: r.target_type,
      target_id: r.target_id,
      detail: parseDetail(r.detail),
      request_id: r.request_id,
      address: r.address
    }))
  }
}
