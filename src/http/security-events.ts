/**
 * Security events (OWASP ASVS 7.2): failed sign-ins, refused tokens, forbidden and banned
 * requests, rate limits, guessable passwords, refused buy tokens, and admin writes. Each is counted
 * in `seckill_security_events_total{kind}` and logged once, at warn (info for admin writes), with
 * the request id (pino's request logger), the address, the route and the user id when known --
 * never a token, a password or an email typed at a login.
 *
 * Logging every refusal would let a crowd of bad requests flood the logs (a scalper's 600 buys a
 * minute answered 429), so a kind is logged at most once per address per LOG_EVERY_MS; the
 * counter counts them all.
 */
import type { FastifyRequest } from 'fastify'
import type { Counter } from 'prom-client'
import type { ErrorCode } from '../shared/errors'

export type SecurityEventKind =
  | 'login_failed' | 'unauthorized' | 'refresh_refused' | 'forbidden' | 'banned'
  | 'rate_limited' | 'weak_password' | 'buy_token_refused' | 'admin_write' | 'webhook_forged'

/** Error codes that are security events, and their kind. */
const KIND_OF_ERROR: Partial<Record<ErrorCode, SecurityEventKind>> = {
  INVALID_CREDENTIALS: 'login_failed',
  UNAUTHORIZED: 'unauthorized',
  INVALID_REFRESH_TOKEN: 'refresh_refused',
  FORBIDDEN: 'forbidden',
  ACCOUNT_BANNED: 'banned',
  RATE_LIMITED: 'rate_limited',
  WEAK_PASSWORD: 'weak_password',
  BUY_TOKEN_INVALID: 'buy_token_refused',
  WEBHOOK_SIGNATURE_INVALID: 'webhook_forged'
}

const LOG_EVERY_MS = 10_000
/** Bound on the throttle's memory: cleared whole when reached. */
const THROTTLE_KEYS = 10_000

export class SecurityEvents {
  private readonly lastLogged = new Map<string, number>()

  constructor (private readonly counter: Counter<'kind'>) {}

  /** An error answered to a request: recorded when its code is a security event. */
  onError (request: FastifyRequest, code: string): void {
    const kind = KIND_OF_ERROR[code as ErrorCode]
    if (kind !== undefined) this.record(request, kind)
  }

  record (request: FastifyRequest, kind: SecurityEventKind, detail?: Record<string, unknown>): void {
    this.counter.inc({ kind })
    const key = `${kind}|${request.ip}`
    const now = Date.now()
    if (kind !== 'admin_write' && now - (this.lastLogged.get(key) ?? -Infinity) < LOG_EVERY_MS) return
    if (this.lastLogged.size >= THROTTLE_KEYS) this.lastLogged.clear()
    this.lastLogged.set(key, now)
    const fields = { security_event: kind, address: request.ip, method: request.method, route: request.routeOptions.url ?? request.url.split('?')[0], user_id: request.user?.id, ...detail }
    if (kind === 'admin_write') request.log.info(fields, 'admin write')
    else request.log.warn(fields, `security event: ${kind}`)
  }
}
