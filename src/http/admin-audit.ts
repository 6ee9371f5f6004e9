/**
 * Records admin writes in the audit trail (src/domain/audit.ts). A route says what it does in its
 * config (`audit: { action, target }`); after it succeeded, and before the admin is answered, the
 * record is written with the actor, address, request id, target id (the route's `:id`, or the id
 * of what it created) and the request body. A route that audits in its own transaction (bans)
 * has no `audit` config. A buyer's route an admin may use (cancelling a buyer's order) is audited
 * only when an admin used it.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Knex } from 'knex'
import { recordAudit } from '../domain/audit'
import type { AuditAction, AuditRecord } from '../domain/audit'

export interface AuditConfig {
  readonly action: AuditAction
  readonly target: AuditRecord['targetType']
}

declare module 'fastify' {
  interface FastifyContextConfig {
    audit?: AuditConfig
  }
}

/** The actor fields of an audit record, from the request. */
export function auditActor (request: FastifyRequest): Pick<AuditRecord, 'actorId' | 'requestId' | 'address'> {
  return { actorId: request.user?.id ?? null, requestId: String(request.id), address: request.ip }
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

/** An onSend hook: records the admin write the route did (and tells `onAudited`, for the security log). */
export function auditAdminWrites (db: Knex, onAudited?: (request: FastifyRequest, action: AuditAction) => void) {
  return async (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> => {
    const audit = request.routeOptions.config.audit
    if (audit === undefined || reply.statusCode >= 300 || request.user?.role !== 'admin') return payload
    const params = request.params as { id?: string } | undefined
    await recordAudit(db, {
      ...auditActor(request),
      action: audit.action,
      targetType: audit.target,
      targetId: params?.id ?? createdId(payload),
      detail: request.body ?? undefined
    })
    onAudited?.(request, audit.action)
    return payload
  }
}
