// Issue item 5: no security headers on `/`, `/ops`, `/docs` (no CSP, nosniff, frame-ancestors: the
// operator page could be framed), nor Referrer-Policy. Every answer now carries them
// (src/http/security-headers.ts), and the pages still work under the policy: each is loaded in
// Chromium, signed in where there is a form, and any policy violation fails the test.
import t from 'tap'
import { signUp } from '../helpers/browser'
import { existsSync } from 'node:fs'
import { chromium } from 'playwright-core'
import type { Page } from 'playwright-core'
import { testEnv } from '../helpers/env'
import { createSale, startTestService } from '../helpers/sale'

const CHROMIUM = '/usr/bin/chromium'

t.test('every answer carries the security headers: the full set on pages and docs, the API set on JSON', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 1 })
  for (const path of ['/', '/ops', '/docs/']) {
    const r = await fetch(`${http.base}${path}`)
    const csp = r.headers.get('content-security-policy') ?? ''
    t.match(csp, /default-src 'self'/, `${path}: a content security policy`)
    t.match(csp, /script-src 'self';/, `${path}: scripts from this origin only, none inline`)
    t.match(csp, /frame-ancestors 'none'/, `${path}: never framed`)
    t.match(csp, /object-src 'none'/, `${path}: no plugins`)
    t.equal(r.headers.get('x-frame-options'), 'DENY', `${path}: never framed (older browsers)`)
    t.equal(r.headers.get('x-content-type-options'), 'nosniff', `${path}: nosniff`)
    t.equal(r.headers.get('referrer-policy'), 'no-referrer', `${path}: no referrer`)
    t.match(r.headers.get('strict-transport-security') ?? '', /max-age=/, `${path}: HSTS`)
    await r.arrayBuffer()
  }
  for (const [what, headers] of [
    ['GET /api/v1/products', (await fetch(`${http.base}/api/v1/products`)).headers],
    ['POST /api/v1/admin/products', (await http.request('POST', '/api/v1/admin/products', { token: env.token(1, 'admin'), body: { title: 'Headers', price_cents: 1 } })).headers],
    ['a refused login', (await http.request('POST', '/api/v1/auth/login', { body: { email: 'x@example.com', password: 'nobody has this' } })).headers],
    ['an unknown route (404)', (await fetch(`${http.base}/api/v1/nowhere`)).headers],
    ['GET /healthz', (await fetch(`${http.base}/healthz`)).headers]
  ] as const) {
    t.equal(headers.get('content-security-policy'), "default-src 'none'; frame-ancestors 'none'", `${what}: never rendered, never framed`)
    t.equal(headers.get('x-content-type-options'), 'nosniff', `${what}: nosniff`)
    t.equal(headers.get('referrer-policy'), 'no-referrer', `${what}: no referrer`)
  }
  // The crowd's routes answer JSON with its content type and nothing else (measured: see
  // src/http/security-headers.ts).
  const buy = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(5) })
  t.match(buy.headers.get('content-type'), /^application\/json/, 'a buy answers JSON with its content type')
})

t.test('the pages work under the policy: no violation in Chromium', async (t) => {
  t.ok(existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (apt-get install -y chromium)`)
  if (!existsSync(CHROMIUM)) return
  const admin = { ADMIN_EMAIL: 'ops@example.com', ADMIN_PASSWORD: 'operator password 1' }
  const env = await testEnv(t, admin)
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 3 })
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless', '--disable-gpu', '--no-first-run', '--disable-background-networking'] })
  env.defer(async () => { await browser.close() })

  const visit = async (path: string, ready: (page: Page) => Promise<unknown>): Promise<string[]> => {
    const page = await (await browser.newContext()).newPage()
    const violations: string[] = []
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()) })
    await page.addInitScript({ content: 'document.addEventListener("securitypolicyviolation", (e) => console.error("Content Security Policy violation: " + e.violatedDirective + " " + e.blockedURI))' })
    await page.goto(`${http.base}${path}`)
    await ready(page)
    await page.close()
    return violations
  }

  t.same(await visit('/', async (p) => {
    await p.getByText('Coming up').or(p.getByText('On sale now')).first().waitFor()
    await signUp(p, 'buyer@example.com')
  }), [], 'the buyer page: listed sales, signed up, no violation')
  t.same(await visit(`/ops#${eventId}`, async (p) => {
    await p.getByLabel('Email').fill(admin.ADMIN_EMAIL)
    await p.getByLabel('Password').fill(admin.ADMIN_PASSWORD)
    await p.click('#sign-in')
    await p.waitForSelector('#signed-in')
    await p.waitForSelector('dd[data-stat="left"]:text-is("3")')
  }), [], 'the operator page: signed in, counts shown, no violation')
  t.same(await visit('/docs/', async (p) => { await p.waitForSelector('.swagger-ui .opblock') }), [], 'the API docs render their operations, no violation')
})
