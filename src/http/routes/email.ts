/**
 * Email verification for the signed-in owner: ask for a code, type it back (src/identity/
 * email-verification.ts). Both are limited per account and fail closed like the other sign-in
 * routes; the answers carry tokens, so they are never stored (src/http/security-headers.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Authenticator } from '../auth'
import { userOf } from '../auth'
import { sendCode, verifyCode } from '../../identity'
import type { EmailVerificationDeps } from '../../identity'
import { commonErrors, ok, okSchema } from '../envelope'
import type { JsonSchema } from '../envelope'

export interface EmailRouteDeps {
  readonly verification: EmailVerificationDeps
  readonly auth: Authenticator
  readonly limit: { max: number, timeWindow: number }
}

const tokensSchema: JsonSchema = {
  type: 'object',
  required: ['access_token', 'refresh_token', 'expires_in'],
  properties: { access_token: { type: 'string' }, refresh_token: { type: 'string' }, expires_in: { type: 'integer' } }
}

export async function emailRoutes (app: FastifyInstance, deps: EmailRouteDeps): Promise<void> {
  const perAccount = (what: string) => ({
    rateLimit: { ...deps.limit, skipOnError: false, keyGenerator: (r: FastifyRequest) => `${what}:${userOf(r).id}` }
  })

  app.post('/me/email/send-code', {
    onRequest: deps.auth.required,
    config: perAccount('email-send'),
    schema: {
      response: {
        202: okSchema({ type: 'object', required: ['expires_in', 'email_verified'], properties: { expires_in: { type: 'integer' }, email_verified: { type: 'boolean' } } }),
        ...commonErrors
      }
    }
  }, async (request, reply) => await reply.code(202).send(ok(await sendCode(deps.verification, userOf(request).id))))

  app.post<{ Body: { code: string } }>('/me/email/verify', {
    onRequest: deps.auth.required,
    config: perAccount('email-verify'),
    schema: {
      body: { type: 'object', additionalProperties: false, required: ['code'], properties: { code: { type: 'string', pattern: '^[0-9]{6}$' } } },
      response: { 200: okSchema(tokensSchema), ...commonErrors }
    }
  }, async (request) => ok(await verifyCode(deps.verification, userOf(request).id, request.body.code)))
}
