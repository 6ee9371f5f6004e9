/**
 * Bearer JWT authentication (HS256). Tokens in the shape this service signs are checked by
 * src/http/hs256.ts (one HMAC, one JSON.parse; every other token, and every refusal, by fast-jwt).
 * Nothing is cached: that check costs about what a cache lookup did (issue 35).
 *
 * Every authenticated route but the crowd's also asks whether the token's session still stands
 * (src/identity/sessions.ts: one Redis HMGET): a ban, a logout, a promotion, a password change or a
 * sign-out everywhere stops its access tokens at once. Buy and poll skip it and keep their single
 * round trip: a banned buyer's buys are refused inside the admission script, and a poll only
 * reads the buyer's own ticket.
 */
import { createSigner, createVerifier } from 'fast-jwt'
import { createHs256Verifier } from './hs256'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { DomainError } from '../shared/errors'
import { USER_ID_PATTERN } from '../shared/ticket-ids'
import { sessionStands } from '../identity'
import type { SessionDeps } from '../identity'

export type Role = 'user' | 'admin'

export interface AuthUser {
  readonly id: string
  readonly role: Role
  /** The token says the account's email was verified (claim `ev`), as of its issue. */
  readonly emailVerified?: boolean
}

declare module 'fastify' {
  interface FastifyRequest {
    user: AuthUser | undefined
  }
}

const USER_ID = new RegExp(USER_ID_PATTERN)

export interface Authenticator {
  /** onRequest hook: sets `request.user` or answers 401 (a bad token, or a session that ended). */
  required: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  /**
   * For the crowd's polls: the token is checked, but not its session (no Redis call). A voided
   * token reads the buyer's own tickets until it expires, and nothing else. A callback hook, not
   * an async one: it runs on every poll and buy of a crowd, and costs no promise each (with the
   * request-id hook, 0.47 → 0.34 µs a request in Fastify's hook runner; bench/request-overheads.ts).
   */
  crowd: (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void
  /** Like `crowd`, for buy: a banned buyer is refused by the admission script. */
  requiredOnce: (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void
  /** onRequest hook: like `required`, then 403 unless the user is an admin. */
  admin: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
}

const FAMILY = /^[A-Za-z0-9_-]{16,64}$/

interface Verified { readonly user: AuthUser, readonly gen: number, readonly family: string | undefined }

/** `sessions`: where ended sessions are looked up; without it (a tool's own app) none are. */
export function createAuthenticator (secret: string, sessions?: SessionDeps): Authenticator {
  const verify = createHs256Verifier(secret, createVerifier({ key: secret, algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] }))

  const authenticate = (request: FastifyRequest): Verified => {
    const header = request.headers.authorization
    if (header === undefined || !header.startsWith('Bearer ')) {
      throw new DomainError('UNAUTHORIZED', 'missing bearer token')
    }
    let claims: { sub?: unknown, role?: unknown, sg?: unknown, fam?: unknown, ev?: unknown }
    try {
      claims = verify(header.slice(7)) as typeof claims
    } catch (err) {
      const code = (err as { code?: string }).code
      throw new DomainError('UNAUTHORIZED', code === 'FAST_JWT_EXPIRED' ? 'token expired' : 'invalid token')
    }
    if (typeof claims.sub !== 'string' || !USER_ID.test(claims.sub)) {
      throw new DomainError('UNAUTHORIZED', 'token subject must be a numeric user id')
    }
    const gen = claims.sg ?? 0
    if (typeof gen !== 'number' || !Number.isSafeInteger(gen) || gen < 0) throw new DomainError('UNAUTHORIZED', 'invalid token')
    if (claims.fam !== undefined && (typeof claims.fam !== 'string' || !FAMILY.test(claims.fam))) throw new DomainError('UNAUTHORIZED', 'invalid token')
    const role: Role = claims.role === 'admin' ? 'admin' : 'user'
    return { user: { id: claims.sub, role, emailVerified: claims.ev === true }, gen, family: claims.fam }
  }

  const withSession = async (request: FastifyRequest): Promise<AuthUser> => {
    const v = authenticate(request)
    if (sessions !== undefined && !await sessionStands(sessions, { userId: v.user.id, gen: v.gen, family: v.family })) {
      throw new DomainError('UNAUTHORIZED', 'this sign-in has ended; sign in again')
    }
    return v.user
  }

  const checkToken = (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    let user: AuthUser
    try {
      user = authenticate(request).user
    } catch (err) {
      done(err as Error)
      return
    }
    request.user = user
    done()
  }

  return {
    async required (request) {
      request.user = await withSession(request)
    },
    crowd: checkToken,
    requiredOnce: checkToken,
    async admin (request) {
      const user = await withSession(request)
      request.user = user
      if (user.role !== 'admin') throw new DomainError('FORBIDDEN', 'admin only')
    }
  }
}

/** What an access token is issued for: a sign-in names its session generation and refresh family. */
export interface TokenSubject extends AuthUser {
  readonly sessionGen?: number
  readonly family?: string
}

/** Signs access tokens (used by login, tests and the benchmark). */
export function createTokenSigner (secret: string, expiresInMs = 3_600_000): (user: TokenSubject) => string {
  const sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: expiresInMs })
  return (user) => sign({
    sub: user.id,
    role: user.role,
    ...(user.sessionGen === undefined ? {} : { sg: user.sessionGen }),
    ...(user.family === undefined ? {} : { fam: user.family }),
    // Read by admission for sales that require a verified email: no lookup on the buy path.
    ...(user.emailVerified === true ? { ev: true } : {})
  })
}

/** The authenticated user of a route that declared authentication. */
export function userOf (request: FastifyRequest): AuthUser {
  if (request.user === undefined) throw new DomainError('UNAUTHORIZED', 'not authenticated')
  return request.user
}
