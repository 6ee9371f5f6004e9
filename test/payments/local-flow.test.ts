/**
 * Payments through the local provider, end to end over HTTP against the real Redis and MariaDB:
 * where to pay, the provider's page, its signed webhook turning the order paid once, forged and
 * replayed webhooks, and a payment that lands after the order ended refunded automatically.
 */
import t from 'tap'
import { auditSale } from '../../src/sale/invariant-audit'
import { localWebhookSecret, signLocal } from '../../src/orders/payments/index'
import { testEnv, TEST_SECRET } from '../helpers/env'
import { createSale, returnsApplied, startTestService, until } from '../helpers/sale'
import { eventId, localWebhook, metric, orderStatus, paymentRow, postWebhook, winOrders } from '../helpers/payments'

t.test('pay through the local provider: one payment per order, approve, the webhook pays the order once', async (t) => {
  const env = await testEnv(t)
  const { http, service } = await startTestService(env)
  const sale = await createSale(http, env, { stock: 2 })
  const orders = await winOrders(http, env, sale, [11, 12])
  const order = orders.get(11) as string

  const [a, b] = await Promise.all([1, 2].map(async () => await http.request('POST', `/api/v1/orders/${order}/payments`, { token: env.token(11) })))
  t.equal(a?.status, 200)
  t.match(a?.body.data, { order_id: order, provider: 'local', status: 'pending', amount_cents: 9900, currency: 'usd' })
  t.same(b?.body.data, a?.body.data, 'two calls at once: the same payment, the same place to pay')
  t.equal(await env.db('local_pay_intents').count({ n: '*' }).first().then((r: any) => Number(r.n)), 1, 'one payment at the provider')
  t.equal((await http.request('POST', `/api/v1/orders/${order}/payments`, { token: env.token(12) })).status, 404, 'another buyer cannot pay it')
  t.equal((await http.request('POST', `/api/v1/orders/${order}/payments`, { token: env.token(1, 'admin') })).status, 404, 'nor an admin')
  t.equal((await http.request('POST', '/api/v1/orders/abc/payments', { token: env.token(11) })).status, 400)
  t.equal((await http.request('POST', `/api/v1/orders/${order}/payments`)).status, 401)
  const paymentId = a?.body.data.id as string
  t.equal((await http.request('GET', `/api/v1/payments/${paymentId}`, { token: env.token(12) })).status, 404, 'another buyer does not see it')
  t.equal(await metric(service, 'seckill_payments', { status: 'pending' }), 1, 'the payments gauge: one pending')

  const redirect = a?.body.data.redirect_url as string
  t.match(redirect, /^\/pay\/local\/lpi_[0-9a-f]{24}$/)
  const page = await fetch(http.base + redirect)
  t.equal(page.status, 200)
  const html = await page.text()
  t.match(html, /99\.00 USD/)
  t.match(html, /id="approve"/)
  t.equal((await fetch(`${http.base}/pay/local/lpi_${'0'.repeat(24)}`)).status, 404)

  const approved = await fetch(`${http.base}${redirect}/approve`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '', redirect: 'manual' })
  t.equal(approved.status, 303)
  t.equal(approved.headers.get('location'), `/?order=${order}&payment=${paymentId}`, 'the buyer is sent back to the shop')
  await until(async () => await orderStatus(env, order) === 'paid', 10_000, 'the webhook to pay the order')
  const got = await http.request('GET', `/api/v1/payments/${paymentId}`, { token: env.token(11) })
  t.match(got.body.data, { status: 'captured', late: null })
  t.ok(got.body.data.captured_at !== null)
  t.equal((await http.request('GET', `/api/v1/payments/${paymentId}`, { token: env.token(1, 'admin') })).status, 200, 'an admin reads it')
  t.same((await http.request('POST', `/api/v1/orders/${order}/payments`, { token: env.token(11) })).body.data.id, paymentId, 'asking again after paying: the same payment')
  t.equal(await metric(service, 'seckill_payment_outcomes_total', { outcome: 'paid' }), 1)
  t.same([await metric(service, 'seckill_payments', { status: 'captured' }), await metric(service, 'seckill_payments', { status: 'pending' })], [1, 0], 'the payments gauge: captured 1, pending 0')
  const audit = await auditSale(env.db, env.redis, env.keys, sale)
  for (const c of audit.checks.filter((c) => ['I1', 'I2', 'I6'].includes(c.id))) t.ok(c.ok, `${c.id}: ${c.detail}`)
})

t.test('webhook signatures: a good one passes; a tampered body, a wrong secret, an old timestamp, none at all are 400 and change nothing', async (t) => {
  const env = await testEnv(t)
  const { http, service } = await startTestService(env)
  const sale = await createSale(http, env, { stock: 1 })
  const order = (await winOrders(http, env, sale, [21])).get(21) as string
  const payment = (await http.request('POST', `/api/v1/orders/${order}/payments`, { token: env.token(21) })).body.data
  const ref = (payment.redirect_url as string).split('/').pop() as string
  const event = { id: eventId(), type: 'payment.succeeded', created: 0, data: { intent: ref, payment_id: payment.id, amount_cents: 9900 } }
  const good = localWebhook(env, event)
  const forged = [
    { what: 'tampered body', hook: { ...good, body: good.body.replace('9900', '1') } },
    { what: 'wrong secret', hook: localWebhook(env, event, { secret: 'x'.repeat(40) }) },
    { what: 'old timestamp', hook: localWebhook(env, event, { at: Math.floor(Date.now() / 1000) - 3600 }) },
    { what: 'no signature', hook: { body: good.body, headers: { 'content-type': 'application/json' } } },
    { what: 'garbage signature', hook: { body: good.body, headers: { 'content-type': 'application/json', 'local-pay-signature': 't=abc,v1=zz' } } }
  ]
  for (const f of forged) {
    const r = await postWebhook(http, f.hook)
    t.equal(r.status, 400, `${f.what}: 400`)
    t.equal(r.body.code, 'WEBHOOK_SIGNATURE_INVALID', `${f.what}: the stable code`)
  }
  t.equal(await metric(service, 'seckill_security_events_total', { kind: 'webhook_forged' }), forged.length, 'each is a security event')
  t.equal(await orderStatus(env, order), 'pending_payment', 'nothing changed: the order')
  t.equal((await paymentRow(env, order)).status, 'pending', 'nothing changed: the payment')
  t.equal(Number((await env.db('payment_events').count({ n: '*' }).first() as any).n), 0, 'nothing changed: no event recorded')
  t.equal((await postWebhook(http, good, 'stripe')).status, 404, 'only the configured provider has a webhook route')

  const ok = await postWebhook(http, good)
  t.equal(ok.status, 200, 'the good one passes')
  t.equal(await orderStatus(env, order), 'paid')
  // The signing itself, where a clock is not involved: the same secret and body give the same header.
  t.equal(signLocal(localWebhookSecret(env.config.payments, TEST_SECRET), 'x', 1), signLocal(localWebhookSecret(env.config.payments, TEST_SECRET), 'x', 1))
  t.not(localWebhookSecret(env.config.payments, TEST_SECRET), localWebhookSecret(env.config.payments, TEST_SECRET + 'x'), 'the derived secret follows the deployment\'s key')
})

t.test('the same webhook eight times at once: the order is paid once, seven are duplicates', async (t) => {
  const env = await testEnv(t)
  const { http, service } = await startTestService(env)
  const sale = await createSale(http, env, { stock: 1 })
  const order = (await winOrders(http, env, sale, [31])).get(31) as string
  const payment = (await http.request('POST', `/api/v1/orders/${order}/payments`, { token: env.token(31) })).body.data
  const ref = (payment.redirect_url as string).split('/').pop() as string
  const hook = localWebhook(env, { id: eventId(), type: 'payment.succeeded', created: 0, data: { intent: ref, payment_id: payment.id, amount_cents: 9900 } })
  const answers = await Promise.all(Array.from({ length: 8 }, async () => await postWebhook(http, hook)))
  t.same(answers.map((a) => a.status), Array(8).fill(200), 'every delivery is acknowledged')
  t.equal(await orderStatus(env, order), 'paid')
  t.equal(await metric(service, 'seckill_payment_outcomes_total', { outcome: 'paid' }), 1, 'acted on once')
  t.equal(await metric(service, 'seckill_payment_outcomes_total', { outcome: 'duplicate' }), 7, 'seven found it done')
  const rows = await env.db('payment_events').select('outcome')
  t.same(rows.map((r: any) => r.outcome), ['paid'], 'one event row')
  // A second, different event saying the same: nothing more.
  const again = localWebhook(env, { id: eventId(), type: 'payment.succeeded', created: 0, data: { intent: ref, payment_id: payment.id, amount_cents: 9900 } })
  t.equal((await postWebhook(http, again)).status, 200)
  t.equal(await metric(service, 'seckill_payment_outcomes_total', { outcome: 'already_settled' }), 1)
  const audit = await auditSale(env.db, env.redis, env.keys, sale)
  for (const c of audit.checks.filter((c) => ['I1', 'I6'].includes(c.id))) t.ok(c.ok, `${c.id}: ${c.detail}`)
})

t.test('money after the deadline or a cancel is refunded automatically, audited; the unit is not sold twice', async (t) => {
  const env = await testEnv(t, { PAYMENT_TIMEOUT_MS: '600000' })
  const { http } = await startTestService(env)
  const sale = await createSale(http, env, { stock: 3 })
  const orders = await winOrders(http, env, sale, [41, 42, 43])
  const [late, cancelled, dueNow] = [41, 42, 43].map((u) => orders.get(u) as string) as [string, string, string]
  const start = async (u: number, o: string): Promise<string> => ((await http.request('POST', `/api/v1/orders/${o}/payments`, { token: env.token(u) })).body.data.redirect_url as string)
  const pages = { late: await start(41, late), cancelled: await start(42, cancelled), dueNow: await start(43, dueNow) }

  // 41: expired by the expiry loop (its deadline moved into the past on MySQL's clock), then paid.
  await env.db('orders').where({ id: late }).update({ expires_at: env.db.raw('NOW(3) - INTERVAL 1 SECOND') })
  await until(async () => await orderStatus(env, late) === 'expired', 10_000, 'the expiry loop')
  // 42: cancelled by its buyer, then paid.
  t.equal((await http.request('POST', `/api/v1/orders/${cancelled}/cancel`, { token: env.token(42) })).body.data.status, 'cancelled')
  for (const [u, o] of [[41, late], [42, cancelled]] as const) {
    t.equal((await http.request('POST', `/api/v1/orders/${o}/payments`, { token: env.token(u) })).body.code, 'ORDER_NOT_PAYABLE', `order ${o} ended: its open payment is not offered again`)
  }
  // 43: the deadline just passed on MySQL's clock; the webhook may come before the expiry loop.
  await env.db('orders').where({ id: dueNow }).update({ expires_at: env.db.raw('NOW(3)') })
  t.equal((await http.request('POST', `/api/v1/orders/${dueNow}/payments`, { token: env.token(43) })).status, 409, 'no new payment starts after the deadline')

  for (const page of Object.values(pages)) t.equal((await fetch(`${http.base}${page}/approve`, { method: 'POST', redirect: 'manual' })).status, 303)
  for (const o of [late, cancelled, dueNow]) await until(async () => (await paymentRow(env, o)).status === 'refunded', 10_000, `order ${o}'s payment refunded`)

  for (const [o, ended] of [[late, 'expired'], [cancelled, 'cancelled'], [dueNow, 'expired']] as const) {
    t.equal(await orderStatus(env, o), ended, `order ${o} stays ${ended}, never paid`)
    const p = await paymentRow(env, o)
    t.match(p, { status: 'refunded', late: ended, refunded_cents: 9900 }, `its payment refunded whole, marked late (${ended})`)
    const refunds = await env.db('payment_refunds').where({ payment_id: p.id })
    t.match(refunds, [{ reason: 'late', status: 'succeeded', amount_cents: 9900 }], 'one refund')
    const intent = await env.db('local_pay_intents').first('refunded_cents').where({ id: p.provider_ref })
    t.equal(intent.refunded_cents, 9900, 'the provider refunded it, once')
    const audit = await env.db('admin_audit').where({ action: 'payment.late_refund', target_id: o })
    t.equal(audit.length, 1, 'audited')
    t.equal(audit[0].actor_id, null, 'by the service itself')
  }
  const event = await env.db('seckill_events').first('sold').where({ id: sale })
  t.equal(event.sold, 0, 'no unit is counted sold for the late payments')
  await until(async () => await returnsApplied(env, sale), 10_000, 'the returns applied')
  const audit = await auditSale(env.db, env.redis, env.keys, sale)
  for (const c of audit.checks.filter((c) => ['I1', 'I2', 'I6'].includes(c.id))) t.ok(c.ok, `${c.id}: ${c.detail}`)
  t.equal(Number(await env.redis.get(env.keys.shard({ eventId: sale, shard: 0 }).stock)), 3, 'each unit came back to the sale once')
})

t.test('a refund webhook before the paid one: the order is never paid, nothing is refunded twice', async (t) => {
  const env = await testEnv(t)
  const { http, service } = await startTestService(env)
  const sale = await createSale(http, env, { stock: 1 })
  const order = (await winOrders(http, env, sale, [51])).get(51) as string
  const payment = (await http.request('POST', `/api/v1/orders/${order}/payments`, { token: env.token(51) })).body.data
  const ref = (payment.redirect_url as string).split('/').pop() as string
  const data = { intent: ref, payment_id: payment.id, amount_cents: 9900 }
  t.equal((await postWebhook(http, localWebhook(env, { id: eventId(), type: 'refund.succeeded', created: 0, data }))).status, 200)
  t.match(await paymentRow(env, order), { status: 'refunded', refunded_cents: 9900 })
  t.equal((await postWebhook(http, localWebhook(env, { id: eventId(), type: 'payment.succeeded', created: 0, data }))).status, 200)
  t.equal(await orderStatus(env, order), 'pending_payment', 'the paid webhook after the refund does not pay the order')
  t.equal((await paymentRow(env, order)).status, 'refunded')
  t.equal(Number((await env.db('payment_refunds').count({ n: '*' }).first() as any).n), 0, 'no refund of ours was needed')
  t.equal(await metric(service, 'seckill_payment_outcomes_total', { outcome: 'already_settled' }), 1)
  // An event for a payment nobody knows: acknowledged, recorded, nothing changed.
  const stranger = await postWebhook(http, localWebhook(env, { id: eventId(), type: 'payment.succeeded', created: 0, data: { intent: `lpi_${'1'.repeat(24)}`, payment_id: '999999', amount_cents: 1 } }))
  t.equal(stranger.status, 200)
  t.equal(await metric(service, 'seckill_payment_outcomes_total', { outcome: 'unknown_payment' }), 1)
  // A ref of one payment with the id of another: refused as unknown, nothing changed.
  t.equal(await orderStatus(env, order), 'pending_payment')
})

t.test('money that is not the price pays nothing; what was taken goes back', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const sale = await createSale(http, env, { stock: 1 })
  const order = (await winOrders(http, env, sale, [71])).get(71) as string
  const payment = (await http.request('POST', `/api/v1/orders/${order}/payments`, { token: env.token(71) })).body.data
  const ref = (payment.redirect_url as string).split('/').pop() as string
  // The provider's books say it took the money (so it can give it back), but the event says 1 cent.
  await env.db('local_pay_intents').where({ id: ref }).update({ status: 'succeeded' })
  t.equal((await postWebhook(http, localWebhook(env, { id: eventId(), type: 'payment.succeeded', created: 0, data: { intent: ref, payment_id: payment.id, amount_cents: 1 } }))).status, 200)
  t.equal(await orderStatus(env, order), 'pending_payment', 'the order is not paid')
  t.match(await paymentRow(env, order), { status: 'refunded', late: 'wrong_amount', amount_cents: 1, refunded_cents: 1 }, 'the cent taken went back')
  t.equal((await env.db('local_pay_refunds').first('amount_cents').where({ intent_id: ref })).amount_cents, 1, 'refunded at the provider: what it took')
  t.equal((await env.db('admin_audit').where({ action: 'payment.late_refund', target_id: order })).length, 1, 'audited')
})

t.test('a lost webhook: the reconciler asks the provider and pays the order', async (t) => {
  const env = await testEnv(t, { LOCAL_PAY_DROP_RATE: '1', PAYMENT_RECONCILE_AFTER_MS: '300', PAYMENT_RECONCILE_EVERY_MS: '100' })
  const { http, service } = await startTestService(env)
  const sale = await createSale(http, env, { stock: 1 })
  const order = (await winOrders(http, env, sale, [61])).get(61) as string
  const payment = (await http.request('POST', `/api/v1/orders/${order}/payments`, { token: env.token(61) })).body.data
  t.equal((await fetch(`${http.base}${payment.redirect_url as string}/approve`, { method: 'POST', redirect: 'manual' })).status, 303)
  await until(async () => await orderStatus(env, order) === 'paid', 10_000, 'the reconciler to pay the order')
  t.equal((await paymentRow(env, order)).status, 'captured')
  const events = await env.db('payment_events').select('event_id', 'outcome')
  t.same(events, [{ event_id: `reconcile:${payment.id as string}:succeeded`, outcome: 'paid' }], 'no webhook came; the reconciler\'s finding paid it')
  t.equal(await metric(service, 'seckill_payment_outcomes_total', { outcome: 'paid' }), 1)
})

t.test('configuration: production refuses the local provider; the pay button only exists with it', async (t) => {
  const { loadConfig, ConfigError } = await import('../../src/config')
  const prod = { NODE_ENV: 'production', JWT_SECRET: 'k3Jq9vX2-mT7wP4z_R8sN1cY6bH0fD5gL' }
  // Each refusal must throw: a try/catch that asserts only in its catch passes when nothing throws.
  const refused = (env: Record<string, string>, why: RegExp, what: string): void => {
    t.throws(() => loadConfig(env), ConfigError, `${what}: refused`)
    t.throws(() => loadConfig(env), why, `${what}: says why`)
  }
  refused(prod, /PAYMENT_PROVIDER: the local provider takes no money/, 'production with the local provider')
  refused({ ...prod, PAYMENT_PROVIDER: 'stripe', STRIPE_SECRET_KEY: 'sk_test_x' }, /STRIPE_WEBHOOK_SECRET: required/, 'Stripe without its webhook secret')
  refused({ ...prod, PAYMENT_PROVIDER: 'alipay', ALIPAY_APP_ID: '1', ALIPAY_PRIVATE_KEY: 'k' }, /ALIPAY_PUBLIC_KEY: required/, 'Alipay without its public key')
  refused({ PAYMENT_WEBHOOK_SECRET: 'short' }, /PAYMENT_WEBHOOK_SECRET: must be at least 32/, 'a short local webhook secret')
  refused({ ...prod, PAYMENT_PROVIDER: 'stripe', STRIPE_SECRET_KEY: 'k', STRIPE_WEBHOOK_SECRET: 'w', LOCAL_PAY_DROP_RATE: '0.1' }, /drills only/, 'provider faults in production')
  const okProd = loadConfig({ ...prod, PAYMENT_PROVIDER: 'stripe', STRIPE_SECRET_KEY: 'sk_live_x', STRIPE_WEBHOOK_SECRET: 'whsec_Q7vK2mX9pL4tR8nB3cW6yF1hJ5dZ0sGa' })
  t.equal(okProd.payments.provider, 'stripe')
  t.equal(loadConfig({}).payments.provider, 'local', 'local by default')
})
