/**
 * The HTTP side of the admin audit trail (src/shared/admin-trail.ts). A route says what it does in its
 * config (`audit: { action, target }`) and hands `auditedBy(request)` to the domain, which writes
 * the row in the change's own transaction: the trail holds a change exactly when it happened
 * (ASVS 7.1.3). A route whose change is not in MySQL (a warm-up of Redis) says `after: true` and
 * is recorded here once it succeeded.
 *
 * Attempts that changed nothing are recorded here too (outcome `refused` or `failed`, with the
 * answer's status and code; ASVS 7.2.2): an admin's audited write answered 4xx or 5xx, and, on the
 * admin routes, a signed-in non-admin turned away (action `admin.denied`). Anonymous 401s are
 * not written (anyone could fill the table); they are counted as security events.
 *
 * A buyer's route an admin may use (cancelling a buyer's order) is audited only when an admin
 * used it.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Knex } from 'knex'
import { auditInTransaction, recordAudit } from '../shared/admin-trail'
import type { AuditAction, AuditInTransaction, AuditRecord } from '../shared/admin-trail'

export interface AuditConfig {
  readonly action: AuditAction
  readonly target: AuditRecord['targetType']
  /** The change is not in MySQL: recorded after it succeeded, not in its transaction. */
  readonly after?: boolean
}

declare module 'fastify' {
  interface FastifyContextConfig {
    audit?: AuditConfig
  }
}

/** The actor fields of an audit record, from the request (its id is checked: src/app.ts). */
export function auditActor (request: FastifyRequest): Pick<AuditRecord, 'actorId' | 'requestId' | 'address'> {
  return { actorId: request.user?.id ?? null, requestId: String(request.id), address: request.ip }
}

/**
 * The audit of this request's change, to be written in the change's transaction; undefined when
 * the route is not audited for this caller (a buyer cancelling their own order).
 */
export function auditedBy (request: FastifyRequest): AuditInTransaction | undefined {
  const audit = request.routeOptions.config.audit
  if (audit === undefined || request.user?.role !== 'admin') return undefined
  return auditInTransaction({ ...auditActor(request), action: audit.action, targetType: audit.target, detail: request.body ?? undefined })
}

function createdId (payload: unknown): string | null {
  if (typeof payload !== 'string') return null
  try {
    const id = (JSON.parse(payload) as { data?: { id?: unknown } }).data?.id
    return id === undefined || id === null ? null : String(id)
  } catch {
    return null
  }
}

function errorCode (payload: unknown): string | null {
  if (typeof payload !== 'string') return null
  try {
    const code = (JSON.parse(payload) as { code?: unknown }).code
    return typeof code === 'string' ? code : null
  } catch {
    return null
  }
}

export interface AuditHookOptions {
  /** Told of every audited admin write (the security event log). */
  readonly onAudited?: (request: FastifyRequest, action: AuditAction) => void
  /** Record signed-in non-admins turned away (the admin routes). */
  readonly denied?: boolean
}

/** An onSend hook: records what the transaction could not (see above). */
export function auditAdminWrites (db: Knex, opts: AuditHookOptions = {}) {
  return async (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> => {
    const audit = request.routeOptions.config.audit
    const user = request.user
    const status = reply.statusCode
    const params = request.params as { id?: string } | undefined
    if (user === undefined) return payload
    if (user.role === 'admin' && audit !== undefined) {
      if (status < 300) {
        if (audit.after === true) {
          await recordAudit(db, { ...auditActor(request), action: audit.action, targetType: audit.target, targetId: params?.id ?? createdId(payload), detail: request.body ?? undefined })
        }
        opts.onAudited?.(request, audit.action)
      } else if (status >= 400) {
        await recordAudit(db, {
          ...auditActor(request),
          action: audit.action,
          targetType: audit.target,
          targetId: params?.id ?? null,
          detail: { status, code: errorCode(payload), asked: request.body ?? null },
          outcome: status >= 500 ? 'failed' : 'refused'
        })
      }
    } else if (opts.denied === true && user.role !== 'admin' && status === 403) {
      await recordAudit(db, {
        ...auditActor(request),
        action: 'admin.denied',
        targetType: 'user',
        targetId: user.id,
        detail: { method: request.method, route: request.routeOptions.url ?? null, status },
        outcome: 'refused'
      })
    }
    return payload
  }
}
