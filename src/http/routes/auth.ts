import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Authenticator } from '../auth'
import { userOf } from '../auth'
import type { AccountDeps } from '../../identity'
import { changePassword, login, logout, normalizeEmail, refresh, register, revokeAllSessions, userView } from '../../identity'
import { DomainError, notFound } from '../../shared/errors'
import { commonErrors, ok, okSchema } from '../envelope'
import type { JsonSchema } from '../envelope'

const userSchema: JsonSchema = {
  type: 'object',
  required: ['id', 'email', 'role'],
  properties: { id: { type: 'string' }, email: { type: 'string' }, role: { type: 'string', enum: ['user', 'admin'] }, email_verified: { type: 'boolean' } }
}
const tokensProperties = {
  access_token: { type: 'string' },
  refresh_token: { type: 'string' },
  expires_in: { type: 'integer' }
}
const tokensSchema: JsonSchema = { type: 'object', required: ['access_token', 'refresh_token', 'expires_in'], properties: tokensProperties }
const credentialsBody: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['email', 'password'],
  properties: {
    email: { type: 'string', format: 'email', maxLength: 254 },
    password: { type: 'string', minLength: 8, maxLength: 128 }
  }
}
const refreshBody: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['refresh_token'],
  properties: { refresh_token: { type: 'string', maxLength: 256 } }
}

const passwordChangeBody: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['current_password', 'new_password'],
  properties: {
    current_password: { type: 'string', minLength: 1, maxLength: 128 },
    new_password: { type: 'string', minLength: 8, maxLength: 128 }
  }
}

interface Credentials { email: string, password: string }

export interface AuthRouteDeps {
  readonly accounts: AccountDeps
  readonly auth: Authenticator
  readonly loginLimit: { max: number, timeWindow: number }
  /** Registrations per address: each one costs a password check (a thread's time) and a hash. */
  readonly registerLimit: { max: number, timeWindow: number }
}

/** First delay once an account's failed logins pass the limit, and the longest. */
const LOGIN_SLOWDOWN_MS = 250
const LOGIN_SLOWDOWN_MAX_MS = 5000

/**
 * Register, login, refresh, logout, me. Register and login are limited per IP (the rate-limit
 * plugin); login also per (account, address) and slowed per account (below), so neither one
 * address nor one target account can be hammered, and nobody can lock an owner out.
 */
export async function authRoutes (app: FastifyInstance, deps: AuthRouteDeps): Promise<void> {
  const { accounts, auth, loginLimit } = deps
  // These limits fail closed: with Redis erring, a sign-in, refresh, registration or password
  // change is refused (503, retry shortly) rather than let through uncounted, which would open
  // unlimited password guessing for as long as Redis is away (ASVS 2.2.1, 11.1.4). The crowd's
  // limits (buy, poll, reads) keep failing open: a sale does not stop for a counter.
  const closed = { skipOnError: false }
  const perIp = { rateLimit: { ...loginLimit, ...closed, keyGenerator: (r: FastifyRequest) => `auth-ip:${r.ip}` } }
  // Its own count: refused (guessable) attempts count too, and do not use up the address's logins.
  const registerPerIp = { rateLimit: { ...deps.registerLimit, ...closed, keyGenerator: (r: FastifyRequest) => `register-ip:${r.ip}` } }

  // Per (account, address): one address cannot lock an account's owner out, who signs in from
  // another. Per account, across addresses: failed logins past the limit slow every further
  // attempt down (doubling up to LOGIN_SLOWDOWN_MAX_MS), so distributed guessing stays slow while
  // the owner can still sign in.
  const perAccountAndAddress = async (email: string, address: string): Promise<void> => {
    const key = accounts.keys.loginAttempts(normalizeEmail(email), address)
    const [[, count], [, ttl]] = await accounts.redis.multi().incr(key).pttl(key).exec() as [[null, number], [null, number]]
    if (ttl < 0) await accounts.redis.pexpire(key, loginLimit.timeWindow)
    if (count > loginLimit.max) {
      const retryMs = Math.max(ttl, 1000)
      throw new DomainError('RATE_LIMITED', `too many login attempts for this account from this address; retry in ${Math.ceil(retryMs / 1000)} s`, retryMs)
    }
    const failures = Number(await accounts.redis.get(accounts.keys.loginFailures(normalizeEmail(email))) ?? 0)
    if (failures > loginLimit.max) await sleep(Math.min(LOGIN_SLOWDOWN_MAX_MS, LOGIN_SLOWDOWN_MS * 2 ** Math.min(16, failures - loginLimit.max - 1)))
  }
  const failed = async (email: string): Promise<void> => {
    const key = accounts.keys.loginFailures(normalizeEmail(email))
    const [[, ttl]] = await accounts.redis.multi().pttl(key).incr(key).exec() as [[null, number], [null, number]]
    if (ttl < 0) await accounts.redis.pexpire(key, loginLimit.timeWindow)
  }

  app.post<{ Body: Credentials }>('/auth/register', {
    config: registerPerIp,
    schema: { body: credentialsBody, response: { 201: okSchema({ type: 'object', required: ['user', ...Object.keys(tokensProperties)], properties: { user: userSchema, ...tokensProperties } }), ...commonErrors } }
  }, async (request, reply) => {
    const { user, tokens } = await register(accounts, request.body.email, request.body.password)
    return await reply.code(201).send(ok({ user, ...tokens }))
  })

  app.post<{ Body: Credentials }>('/auth/login', {
    config: perIp,
    schema: { body: credentialsBody, response: { 200: okSchema(tokensSchema), ...commonErrors } }
  }, async (request) => {
    await perAccountAndAddress(request.body.email, request.ip)
    try {
      return ok(await login(accounts, request.body.email, request.body.password))
    } catch (err) {
      // Logged and counted as a security event by the error handler.
      if (err instanceof DomainError && err.code === 'INVALID_CREDENTIALS') await failed(request.body.email)
      throw err
    }
  })

  app.post<{ Body: { refresh_token: string } }>('/auth/refresh', {
    config: perIp,
    schema: { body: refreshBody, response: { 200: okSchema(tokensSchema), ...commonErrors } }
  }, async (request) => ok(await refresh(accounts, request.body.refresh_token)))

  app.post<{ Body: { refresh_token: string } }>('/auth/logout', {
    schema: { body: refreshBody, response: { 204: { type: 'null' }, ...commonErrors } }
  }, async (request, reply) => {
    await logout(accounts, request.body.refresh_token)
    return await reply.code(204).send()
  })

  // Per account: a stolen access token cannot guess the current password quickly either.
  const perAccount = { rateLimit: { ...loginLimit, ...closed, keyGenerator: (r: FastifyRequest) => `me-password:${userOf(r).id}` } }

  app.post<{ Body: { current_password: string, new_password: string } }>('/me/password', {
    onRequest: auth.required,
    config: perAccount,
    schema: { body: passwordChangeBody, response: { 200: okSchema(tokensSchema), ...commonErrors } }
  }, async (request) => {
    // Every earlier sign-in ends, this one included; the caller continues with the tokens returned.
    return ok(await changePassword(accounts, userOf(request).id, request.body.current_password, request.body.new_password, { requestId: String(request.id), address: request.ip }))
  })

  app.post('/me/sessions/revoke', {
    onRequest: auth.required,
    schema: { response: { 204: { type: 'null' }, ...commonErrors } }
  }, async (request, reply) => {
    await revokeAllSessions(accounts, userOf(request).id, { requestId: String(request.id), address: request.ip })
    return await reply.code(204).send()
  })

  app.get('/me', {
    onRequest: auth.required,
    schema: { response: { 200: okSchema(userSchema), ...commonErrors } }
  }, async (request) => {
    const user = await accounts.users.findById(userOf(request).id)
    if (user === undefined) throw notFound('NOT_FOUND', 'account')
    return ok(userView(user))
  })
}
