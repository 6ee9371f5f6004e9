/**
 * Security headers.
 *
 * Pages (`/`, `/ops`, their assets) and the API docs (`/docs`): @fastify/helmet's full set, in the
 * pages' own scope: a strict Content-Security-Policy (scripts, styles and connections from this
 * origin only, no inline script, no plugins, never framed), plus nosniff, Referrer-Policy
 * no-referrer, HSTS and the cross-origin isolation headers. The buyer and
 * operator pages are built without inline script or style (Vite emits files); the API docs' Swagger
 * UI loads its own script files but inserts <style> elements, so /docs alone also allows inline
 * styles (src/app.ts). test/security/headers.test.ts loads each page in Chromium and fails on any
 * policy violation.
 *
 * `upgrade-insecure-requests` is left out: a development service on http://127.0.0.1 would have
 * its own assets upgraded to https. TLS is the front proxy's job, and HSTS is sent for it.
 */
import type { FastifyHelmetOptions } from '@fastify/helmet'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify'

export const pageSecurityHeaders: FastifyHelmetOptions = {
  global: true,
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      'default-src': ["'self'"],
      'script-src': ["'self'"],
      'script-src-attr': ["'none'"],
      'style-src': ["'self'"],
      'img-src': ["'self'", 'data:'],
      'font-src': ["'self'", 'data:'],
      'connect-src': ["'self'"],
      'object-src': ["'none'"],
      'base-uri': ["'self'"],
      'form-action': ["'self'"],
      'frame-ancestors': ["'none'"]
    }
  },
  frameguard: { action: 'deny' },
  referrerPolicy: { policy: 'no-referrer' }
}

/**
 * The JSON API's answers: OWASP's REST set -- never rendered as a document nor framed
 * (`default-src 'none'; frame-ancestors 'none'`), never sniffed, no referrer.
 *
 * Hand-written, and left off the four routes a crowd hits (buy, ticket poll, event read, clock),
 * because of what it measured on this machine: helmet's two hooks per request halved a trivial
 * route's rate (9,100 → 4,600 req/s, autocannon, 50 connections, 2 rounds; a route helmet skips
 * still runs them), and even these three fixed headers in one hook cost 12–16 % (→ 7,800 req/s);
 * in `npm run bench` the crowd-after-sell-out rate fell from 44 % to 38 % of the baseline with
 * them on every route. Those four answer JSON with its content type, built from no user-supplied
 * markup, so a browser neither renders nor sniffs them; every other API route carries the set.
 */
export const API_HEADERS = Object.freeze({
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer'
})

/**
 * Answers that carry tokens or an account's data (sign-in, refresh, the account, its orders, the
 * admin's views) are never stored by a browser or a shared cache (ASVS 8.2.1, 3.4.x).
 */
export const PRIVATE_API_HEADERS = Object.freeze({ ...API_HEADERS, 'cache-control': 'no-store' })
const PRIVATE_ROUTE = /^\/api\/v1\/(?:auth|me|orders|admin)(?:\/|$)/

/** Routes a crowd hits, answered without the header hook (see above). */
const HOT_ROUTES = new Set(['/api/v1/events/:id/buy', '/api/v1/tickets/:id', '/api/v1/events/:id', '/api/v1/time'])

function apiSecurityHeaders (_request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  reply.headers(API_HEADERS)
  done()
}

function privateApiSecurityHeaders (_request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  reply.headers(PRIVATE_API_HEADERS)
  done()
}

/** An onRoute hook: API and health routes get the header hook, but the crowd's four and the pages. */
export function withApiSecurityHeaders (route: RouteOptions): void {
  if (HOT_ROUTES.has(route.url) || !(route.url.startsWith('/api/') || ['/healthz', '/readyz', '/metrics'].includes(route.url))) return
  const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]
  route.onRequest = [PRIVATE_ROUTE.test(route.url) ? privateApiSecurityHeaders : apiSecurityHeaders, ...existing]
}
