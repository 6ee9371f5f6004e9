/**
 * Security headers on every answer (@fastify/helmet): a strict Content-Security-Policy (scripts,
 * styles and connections from this origin only, no inline script, no plugins, never framed), plus
 * nosniff, Referrer-Policy no-referrer, and the cross-origin isolation headers. The buyer and
 * operator pages are built without inline script or style (Vite emits files); the API docs' Swagger
 * UI loads its own script files but inserts <style> elements, so /docs alone also allows inline
 * styles (src/app.ts). test/security/headers.test.ts loads each page in Chromium and fails on any
 * policy violation.
 *
 * `upgrade-insecure-requests` is left out: a development service on http://127.0.0.1 would have
 * its own assets upgraded to https. TLS is the front proxy's job, and HSTS is sent for it.
 */
import type { FastifyHelmetOptions } from '@fastify/helmet'

export const securityHeaders: FastifyHelmetOptions = {
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
