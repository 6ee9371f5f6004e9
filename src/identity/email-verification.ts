/**
 * Email verification (after DaMai-Go's send-code / verify-code): the owner asks for a code, gets
 * six digits at the account's address, and types them back within CODE_TTL_MS. The account is
 * then verified (`users.email_verified_at`) and gets new tokens whose access token carries the
 * `ev` claim, which admission reads for sales that require it -- no lookup on the buy path.
 *
 * Codes live in Redis only, hashed; one a minute per account, five wrong tries void it (ASVS 2.7:
 * out-of-band verifiers short-lived, single use, attempts limited). Never logs a code.
 */
import { createHash, randomInt, timingSafeEqual } from 'node:crypto'
import type { Db } from '../db/knex'
import type { RedisClient } from '../redis/scripts'
import type { KeySpace } from '../redis/keys'
import type { Mailer } from '../mail/mailer'
import { DomainError } from '../shared/errors'
import { issueTokens } from './accounts'
import type { AccountDeps, Tokens } from './accounts'

export const CODE_TTL_MS = 10 * 60_000
export const RESEND_AFTER_MS = 60_000
export const MAX_WRONG_TRIES = 5

export interface EmailVerificationDeps {
  readonly db: Db
  readonly redis: RedisClient
  readonly keys: KeySpace
  /** Undefined in production without SMTP_URL: codes cannot be sent (503). */
  readonly mailer: Mailer | undefined
  readonly accounts: AccountDeps
}

const hash = (code: string): Buffer => createHash('sha256').update(code).digest()

const codeInvalid = (): DomainError => new DomainError('EMAIL_CODE_INVALID', 'the code is wrong or has expired; ask for a new one')

/** Mails a new code to the account's address; `expires_in` is in seconds. */
export async function sendCode (deps: EmailVerificationDeps, userId: string): Promise<{ expires_in: number, email_verified: boolean }> {
  const user = await deps.accounts.users.findById(userId)
  if (user === undefined) throw new DomainError('UNAUTHORIZED', 'the account no longer exists')
  if (user.emailVerified) return { expires_in: 0, email_verified: true }
  if (deps.mailer === undefined) throw new DomainError('MAIL_UNAVAILABLE', 'mail is not configured on this deployment (SMTP_URL)')
  const sent = await deps.redis.set(deps.keys.emailCodeSent(userId), '1', 'PX', RESEND_AFTER_MS, 'NX')
  if (sent === null) {
    const left = await deps.redis.pttl(deps.keys.emailCodeSent(userId))
    throw new DomainError('RATE_LIMITED', 'a code was sent a moment ago; wait before asking again', Math.max(left, 1000))
  }
  const code = String(randomInt(0, 1_000_000)).padStart(6, '0')
  const key = deps.keys.emailCode(userId)
  await deps.redis.multi().del(key).hset(key, 'hash', hash(code).toString('base64'), 'email', user.email, 'wrong', 0).pexpire(key, CODE_TTL_MS).exec()
  try {
    await deps.mailer.send({
      to: user.email,
      subject: `Your seckill code: ${code}`,
      text: `Your code is ${code}. It works for ${CODE_TTL_MS / 60_000} minutes. If you did not ask for it, ignore this mail.`
    })
  } catch (err) {
    await deps.redis.del(key, deps.keys.emailCodeSent(userId))
    throw new DomainError('MAIL_UNAVAILABLE', `the code could not be sent: ${(err as Error).message}`)
  }
  return { expires_in: Math.floor(CODE_TTL_MS / 1000), email_verified: false }
}

/** Checks the code; the account is verified and signs in anew (the new access token says so). */
export async function verifyCode (deps: EmailVerificationDeps, userId: string, code: string): Promise<Tokens> {
  const key = deps.keys.emailCode(userId)
  const [stored, email] = await deps.redis.hmget(key, 'hash', 'email')
  if (stored === null || email === null) throw codeInvalid()
  const given = hash(code)
  const expected = Buffer.from(stored, 'base64')
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    const wrong = await deps.redis.hincrby(key, 'wrong', 1)
    if (wrong >= MAX_WRONG_TRIES) await deps.redis.del(key)
    throw codeInvalid()
  }
  // Single use: whoever deletes it first is the one verifying.
  if (await deps.redis.del(key) !== 1) throw codeInvalid()
  // Only the address the code went to (an address changed meanwhile stays unverified).
  await deps.db('users').where({ id: userId, email }).whereNull('email_verified_at').update({ email_verified_at: deps.db.raw('CURRENT_TIMESTAMP(3)') })
  const user = await deps.accounts.users.findById(userId)
  if (user === undefined || !user.emailVerified) throw codeInvalid()
  if (user.bannedAt !== null) throw new DomainError('ACCOUNT_BANNED', 'this account is suspended')
  return await issueTokens(deps.accounts, user)
}
