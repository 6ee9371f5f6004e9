/**
 * One place where errors become HTTP answers. Domain errors carry a stable code; this table gives
 * each its status. Everything else is a 500, logged once with the request id.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { DomainError } from '../shared/errors'
import type { ErrorCode } from '../shared/errors'

const STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  INVALID_CREDENTIALS: 401,
  INVALID_REFRESH_TOKEN: 401,
  // Not 401: the caller's token is fine, and a client would take 401 for "sign in again".
  CURRENT_PASSWORD_WRONG: 403,
  EMAIL_TAKEN: 409,
  WEAK_PASSWORD: 400,
  FORBIDDEN: 403,
  ACCOUNT_BANNED: 403,
  EMAIL_NOT_VERIFIED: 403,
  EMAIL_CODE_INVALID: 400,
  MAIL_UNAVAILABLE: 503,
  NOT_FOUND: 404,
  EVENT_NOT_FOUND: 404,
  PRODUCT_NOT_FOUND: 404,
  TICKET_NOT_FOUND: 404,
  ORDER_NOT_FOUND: 404,
  EVENT_NOT_STARTED: 409,
  EVENT_ENDED: 409,
  ORDER_NOT_PAYABLE: 409,
  EVENT_NOT_EDITABLE: 409,
  PRODUCT_IN_USE: 409,
  BUY_TOKEN_INVALID: 403,
  BUY_TOKEN_NOT_AVAILABLE: 409,
  // Proof of work (src/sale/proof-of-work.ts): missing, not this buyer's or this sale's, or wrong;
  // past its expiry; already spent on an earlier buy; no challenge to give.
  POW_REQUIRED: 403,
  POW_INVALID: 403,
  POW_EXPIRED: 403,
  POW_USED: 409,
  POW_NOT_AVAILABLE: 409,
  NO_WAITLIST: 409,
  NOT_ON_WAITLIST: 404,
  NO_START_DRAW: 409,
  NO_DRAW: 409,
  DRAW_CLOSED: 409,
  START_ENTRIES_FULL: 409,
  ORDER_NOT_CANCELLABLE: 409,
  PAYMENT_NOT_FOUND: 404,
  PAY_THROUGH_PROVIDER: 409,
  REFUND_NOT_ALLOWED: 409,
  // The provider's signature did not check out: the request is bad, and a security event.
  WEBHOOK_SIGNATURE_INVALID: 400,
  // The provider's API failed or timed out: worth a retry.
  PAYMENT_PROVIDER_UNAVAILABLE: 502,
  RATE_LIMITED: 429,
  SALE_NOT_READY: 503,
  SHUTTING_DOWN: 503,
  TOO_MANY_WAITING: 503,
  OVERLOADED: 503,
  INTERNAL: 500
}

/**
 * Redis or MySQL out of reach: the request may succeed on a retry, so 503 with Retry-After rather
 * than a 500 that reads as a bug.
 */
function dependencyDown (error: Error): boolean {
  const code = (error as { code?: unknown }).code
  return error.name === 'MaxRetriesPerRequestError' ||
    error.message === 'Connection is closed.' ||
    (typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'PROTOCOL_CONNECTION_LOST', 'ER_CON_COUNT_ERROR'].includes(code)) ||
    error.name === 'KnexTimeoutError'
}

/** The error handler; `onClientError` hears every error answered below 500 (security events). */
export function createErrorHandler (onClientError?: (request: FastifyRequest, code: string) => void) {
  return async (error: FastifyError | DomainError | Error, request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    await handleError(error, request, reply, onClientError)
  }
}

async function handleError (error: FastifyError | DomainError | Error, request: FastifyRequest, reply: FastifyReply, onClientError?: (request: FastifyRequest, code: string) => void): Promise<void> {
  let status: number
  let code: string
  let message: string
  if (error instanceof DomainError) {
    status = STATUS[error.code]
    code = error.code
    message = error.message
    // Refusing a long-poll when too many wait, and shedding a saturated ingress's buys and polls,
    // are load shedding, not faults (counted where they happen).
    if (status >= 500 && error.code !== 'TOO_MANY_WAITING' && error.code !== 'OVERLOADED') request.log.error({ err: error }, message)
    if (error.retryAfterMs !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(error.retryAfterMs / 1000))))
    else if (status === 503) reply.header('retry-after', '1')
  } else if ((error as FastifyError).validation !== undefined) {
    status = 400
    code = 'BAD_REQUEST'
    message = error.message
  } else if (typeof (error as FastifyError).statusCode === 'number' && (error as FastifyError).statusCode as number < 500) {
    // Fastify's own client errors: bad JSON, body too large, wrong content type, rate limit.
    status = (error as FastifyError).statusCode as number
    code = status === 429 ? 'RATE_LIMITED' : status === 404 ? 'NOT_FOUND' : 'BAD_REQUEST'
    message = error.message
  } else if (dependencyDown(error)) {
    status = 503
    code = 'SALE_NOT_READY'
    message = 'the sale is briefly unavailable; retry shortly'
    request.log.warn({ err: error }, 'dependency unavailable')
    reply.header('retry-after', '1')
  } else {
    status = 500
    code = 'INTERNAL'
    message = 'internal error'
    request.log.error({ err: error }, 'unhandled error')
  }
  if (status < 500) onClientError?.(request, code)
  await reply.code(status).send({ code, message, request_id: String(request.id) })
}
