/**
 * The admin audit trail (`admin_audit`): every admin write -- products, events, an order cancelled
 * for a buyer, bans, role changes -- with who made it (null: the environment or create-admin),
 * from which address, under which request id, and what was asked. Written before the admin is
 * answered; read at GET /api/v1/admin/audit, newest first.
 */
import type { Knex } from 'knex'
import type { Page, PageRequest } from './page'

export type AuditAction =
  | 'product.create' | 'product.update' | 'product.delete'
  | 'event.create' | 'event.update' | 'event.delete' | 'event.warmup' | 'event.pause' | 'event.resume' | 'event.end' | 'event.message'
  | 'order.cancel' | 'order.refund' | 'payment.late_refund'
  | 'user.ban' | 'user.unban' | 'user.role'
  | 'user.password' | 'user.sessions_revoked'
  | 'admin.denied'

/** `done`: the change was made (recorded in its own transaction); otherwise nothing changed. */
export type AuditOutcome = 'done' | 'refused' | 'failed'

export interface AuditRecord {
  readonly actorId: string | null
  readonly action: AuditAction
  readonly targetType: 'product' | 'event' | 'order' | 'user'
  readonly targetId: string | null
  /** What was asked (the request body, or what the change was); never a password or token. */
  readonly detail?: unknown
  readonly requestId?: string
  readonly address?: string
  /** `done` unless said otherwise. */
  readonly outcome?: AuditOutcome
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
  readonly outcome: string
}

export interface AuditFilter {
  readonly action?: string
  readonly actorId?: string
  readonly targetType?: string
  readonly targetId?: string
  readonly outcome?: string
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
    address: r.address?.slice(0, 64) ?? null,
    outcome: r.outcome ?? 'done'
  })
}

interface AuditRow { id: number | string, at: Date, actor_id: number | string | null, action: string, target_type: string, target_id: string | null, detail: string | null, request_id: string | null, address: string | null, outcome: string }

/**
 * Records a change's audit row inside the change's own transaction, so the trail holds the change
 * exactly when the change happened (ASVS 7.1.3): `targetId` is what was written.
 */
export type AuditInTransaction = (trx: Knex.Transaction, targetId: string | null) => Promise<void>

export function auditInTransaction (record: Omit<AuditRecord, 'targetId' | 'outcome'>): AuditInTransaction {
  return async (trx, targetId) => { await recordAudit(trx, { ...record, targetId, outcome: 'done' }) }
}

/**
 * Runs a write with its audit row in one transaction (`trx` when the caller has one). `target`
 * says what the write changed, or false when it changed nothing: then no row is written here (the
 * HTTP layer records the refused attempt).
 */
export async function withAudit<T> (db: Knex, trx: Knex.Transaction | undefined, audit: AuditInTransaction | undefined,
  write: (q: Knex | Knex.Transaction) => Promise<T>, target: (result: T) => string | null | false): Promise<T> {
  if (audit === undefined) return await write(trx ?? db)
  const run = async (t: Knex.Transaction): Promise<T> => {
    const result = await write(t)
    const id = target(result)
    if (id !== false) await audit(t, id)
    return result
  }
  return trx !== undefined ? await run(trx) : await db.transaction(run)
}

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
  if (filter.outcome !== undefined) q.where({ outcome: filter.outcome })
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
      address: r.address,
      outcome: r.outcome
    }))
  }
}
