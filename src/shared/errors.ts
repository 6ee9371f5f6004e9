/**
 * Domain errors: a stable string code and a message, and nothing of HTTP. The HTTP layer maps
 * codes to statuses in one table (src/http/error-handler.ts).
 */
export const ERROR_CODES = [
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'INVALID_CREDENTIALS',
  'INVALID_REFRESH_TOKEN',
  'CURRENT_PASSWORD_WRONG',
  'EMAIL_TAKEN',
  'WEAK_PASSWORD',
  'FORBIDDEN',
  'ACCOUNT_BANNED',
  'EMAIL_NOT_VERIFIED',
  'EMAIL_CODE_INVALID',
  'MAIL_UNAVAILABLE',
  'NOT_FOUND',
  'EVENT_NOT_FOUND',
  'PRODUCT_NOT_FOUND',
  'TICKET_NOT_FOUND',
  'ORDER_NOT_FOUND',
  'EVENT_NOT_STARTED',
  'EVENT_ENDED',
  'ORDER_NOT_PAYABLE',
  'EVENT_NOT_EDITABLE',
  'PRODUCT_IN_USE',
  'BUY_TOKEN_INVALID',
  'BUY_TOKEN_NOT_AVAILABLE',
  'POW_REQUIRED',
  'POW_INVALID',
  'POW_EXPIRED',
  'POW_USED',
  'POW_NOT_AVAILABLE',
  'NO_WAITLIST',
  'NOT_ON_WAITLIST',
  'NO_START_DRAW',
  'NO_DRAW',
  'DRAW_CLOSED',
  'START_ENTRIES_FULL',
  'ORDER_NOT_CANCELLABLE',
  'PAYMENT_NOT_FOUND',
  'PAY_THROUGH_PROVIDER',
  'REFUND_NOT_ALLOWED',
  'WEBHOOK_SIGNATURE_INVALID',
  'PAYMENT_PROVIDER_UNAVAILABLE',
  'RATE_LIMITED',
  'SALE_NOT_READY',
  'SHUTTING_DOWN',
  'TOO_MANY_WAITING',
  'OVERLOADED',
  'INTERNAL'
] as const
export type ErrorCode = typeof ERROR_CODES[number]

export class DomainError extends Error {
  /** `retryAfterMs`: when trying again can succeed (a rate limit's window end), if known. */
  constructor (readonly code: ErrorCode, message: string, readonly retryAfterMs?: number) {
    super(message)
    this.name = 'DomainError'
  }
}

export const notFound = (code: ErrorCode, what: string): DomainError => new DomainError(code, `${what} not found`)
export const badRequest = (message: string): DomainError => new DomainError('BAD_REQUEST', message)
