/**
 * Bearer JWT authentication (HS256). Verified tokens are cached by fast-jwt, so a buyer's
 * repeated requests cost one signature check, not one per request.
 */
import { createSigner, createVerifier } from 'fast-jwt'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { DomainError } from '../domain/errors'
import { USER_ID_PATTERN } from '../domain/tickets'

export type Role = 'user' | 'admin'

export interface AuthUser {
  readonly id: string
  readonly role: Role
}

declare module 'fastify' {
  interface FastifyRequest {
    user: AuthUser | undefined
  }
}

const USER_ID = new RegExp(USER_ID_PATTERN)

export interface Authenticator {
  /** onRequest hook: sets `request.user` or answers 401. */
  required: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  /**
   * The same, for routes a buyer calls about once (buy): the token is not cached. Caching a token
   * that never comes back costs a hash and an LRU insert for nothing.
   */
  requiredOnce: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  /** onRequest hook: like `required`, then 403 unless the user is an admin. */
  admin: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
}

export function createAuthenticator (secret: string): Authenticator {
  const cached = createVerifier({ key: secret, algorithms: ['HS256'], cache: 100_000, requiredClaims: ['sub', 'exp'] })
  const uncached = createVerifier({ key: secret, algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] })

  const authenticate = (request: FastifyRequest, verify: typeof cached = cached): AuthUser => {
    const header = request.headers.authorization
    if (header === undefined || !header.startsWith('Bearer ')) {
      throw new DomainError('UNAUTHORIZED', 'missing bearer token')
    }
    let claims: { sub?: unknown, role?: unknown }
    try {
      claims = verify(header.slice(7)) as { sub?: unknown, role?: unknown }
    } catch (err) {
      const code = (err as { code?: string }).code
      throw new DomainError('UNAUTHORIZED', code === 'FAST_JWT_EXPIRED' ? 'token expired' : 'invalid token')
    }
    if (typeof claims.sub !== 'string' || !USER_ID.test(claims.sub)) {
      throw new DomainError('UNAUTHORIZED', 'token subject must be a numeric user id')
    }
    const role: Role = claims.role === 'admin' ? 'admin' : 'user'
    return { id: claims.sub, role }
  }

  return {
    async required (request) {
      request.user = authenticate(request)
    },
    async requiredOnce (request) {
      request.user = authenticate(request, uncached)
    },
    async admin (request) {
      const user = authenticate(request)
      request.user = user
      if (user.role !== 'admin') throw new DomainError('FORBIDDEN', 'admin only')
    }
  }
}

/** Signs access tokens (used by login, tests and the benchmark). */
export function createTokenSigner (secret: string, expiresInMs = 3_600_000): (user: AuthUser) => string {
  const sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: expiresInMs })
  return (user) => sign({ sub: user.id, role: user.role })
}

/** The authenticated user of a route that declared authentication. */
export function userOf (request: FastifyRequest): AuthUser {
  if (request.user === undefined) throw new DomainError('UNAUTHORIZED', 'not authenticated')
  return request.user
}
