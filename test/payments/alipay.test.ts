/**
 * The Alipay adapter with the official `alipay-sdk`: key pairs generated here, notifications
 * signed like Alipay's and verified by the SDK's RSA2 check, and a stub gateway for queries and
 * refunds (its answers signed, and verified by the SDK). No network.
 */
import t from 'tap'
import { testEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'
import { beijing, rsaKeys, signedNotification, startAlipayStub } from '../helpers/alipay-stub'
import { metric, orderStatus, paymentRow, winOrders } from '../helpers/payments'

const APP_ID = '2021000000000001'
const app = rsaKeys()
const alipay = rsaKeys()

async function notify (base: string, body: string): Promise<{ status: number, text: string }> {
  const res = await fetch(`${base}/api/v1/payments/webhooks/alipay`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body })
  return { status: res.status, text: await res.text() }
}

t.test('alipay: the page-pay URL, RSA2 notifications (good, tampered, wrong key, old, future, another app), late money refunded', async (t) => {
  const stub = await startAlipayStub(alipay.privateKey)
  t.teardown(stub.close)
  const env = await testEnv(t, {
    PAYMENT_PROVIDER: 'alipay',
    ALIPAY_APP_ID: APP_ID,
    // One line with \n, as an environment carries it.
    ALIPAY_PRIVATE_KEY: app.privateKey.replace(/\n/g, '\\n'),
    ALIPAY_PUBLIC_KEY: alipay.publicKey,
    ALIPAY_GATEWAY: stub.url,
    PUBLIC_URL: 'https://shop.example',
    PAYMENT_TIMEOUT_MS: '600000',
    PAYMENT_RECONCILE_AFTER_MS: '300',
    PAYMENT_RECONCILE_EVERY_MS: '100'
  })
  const { http, service } = await startTestService(env)
  const sale = await createSale(http, env, { stock: 3 })
  const orders = await winOrders(http, env, sale, [11, 12, 13])
  const [order, late, silent] = [11, 12, 13].map((u) => orders.get(u) as string) as [string, string, string]

  const p = (await http.request('POST', `/api/v1/orders/${order}/payments`, { token: env.token(11) })).body.data
  t.match(p, { provider: 'alipay', currency: 'cny', amount_cents: 9900 })
  const url = new URL(p.redirect_url as string)
  t.equal(`${url.origin}${url.pathname}`, stub.url, 'the buyer goes to the gateway')
  t.equal(url.searchParams.get('method'), 'alipay.trade.page.pay')
  t.equal(url.searchParams.get('notify_url'), 'https://shop.example/api/v1/payments/webhooks/alipay')
  t.equal(url.searchParams.get('return_url'), `https://shop.example/?order=${order}&payment=${p.id as string}`)
  t.match(JSON.parse(url.searchParams.get('biz_content') ?? '{}'), { out_trade_no: `seckill-${p.id as string}`, total_amount: '99.00' })
  t.ok((url.searchParams.get('sign') ?? '').length > 100, 'signed with the app key')

  const fields = (o: Record<string, string> = {}): Record<string, string> => ({
    app_id: APP_ID, notify_id: `n${Date.now()}${Math.random()}`, notify_time: beijing(Date.now()), notify_type: 'trade_status_sync',
    out_trade_no: `seckill-${p.id as string}`, trade_no: '2026120522001', trade_status: 'TRADE_SUCCESS', total_amount: '99.00', charset: 'utf-8', ...o
  })
  const good = signedNotification(alipay.privateKey, fields())
  const forged = [
    ['tampered body', good.replace('total_amount=99.00', 'total_amount=0.01')],
    ['signed by another key', signedNotification(rsaKeys().privateKey, fields())],
    ['three days old', signedNotification(alipay.privateKey, fields({ notify_time: beijing(Date.now() - 72 * 3600_000) }))],
    // Alipay's key alone cannot date a notice: one dated ahead would outlive the age bound by as much.
    ['ten minutes in the future', signedNotification(alipay.privateKey, fields({ notify_time: beijing(Date.now() + 10 * 60_000) }))],
    ['for another app', signedNotification(alipay.privateKey, fields({ app_id: '2021000000009999' }))],
    ['unsigned', new URLSearchParams(fields()).toString()]
  ] as const
  for (const [what, body] of forged) {
    const r = await notify(http.base, body)
    t.equal(r.status, 400, `${what}: 400`)
    t.match(r.text, /WEBHOOK_SIGNATURE_INVALID/)
  }
  t.equal(await orderStatus(env, order), 'pending_payment', 'forged notifications changed nothing')
  t.equal(await metric(service, 'seckill_security_events_total', { kind: 'webhook_forged' }), forged.length)
  const ok = await notify(http.base, good)
  t.same(ok, { status: 200, text: 'success' }, 'acknowledged as Alipay expects')
  t.equal(await orderStatus(env, order), 'paid')
  t.same(await notify(http.base, good), { status: 200, text: 'success' }, 'the same notification again: acknowledged')
  t.equal(await metric(service, 'seckill_payment_outcomes_total', { outcome: 'duplicate' }), 1)

  // Money after the order expired: refunded through trade.refund, with our refund's key.
  const lp = (await http.request('POST', `/api/v1/orders/${late}/payments`, { token: env.token(12) })).body.data
  await env.db('orders').where({ id: late }).update({ expires_at: env.db.raw('NOW(3) - INTERVAL 1 SECOND') })
  await until(async () => await orderStatus(env, late) === 'expired', 10_000, 'the expiry loop')
  const lateBody = signedNotification(alipay.privateKey, fields({ out_trade_no: `seckill-${lp.id as string}` }))
  t.equal((await notify(http.base, lateBody)).status, 200)
  t.match(await paymentRow(env, late), { status: 'refunded', late: 'expired', refunded_cents: 9900 })
  const refundId = (await env.db('payment_refunds').first('id').where({ payment_id: lp.id }) as { id: number }).id
  t.same(stub.refunds, [{ outTradeNo: `seckill-${lp.id as string}`, amount: '99.00', outRequestNo: `seckill-refund-${refundId}` }], 'one refund at Alipay')
  const refundNotice = signedNotification(alipay.privateKey, fields({ out_trade_no: `seckill-${lp.id as string}`, refund_fee: '99.00', out_biz_no: `seckill-refund-${refundId}`, trade_status: 'TRADE_CLOSED' }))
  t.equal((await notify(http.base, refundNotice)).status, 200)
  t.equal(await orderStatus(env, late), 'expired', 'the refund notice changes nothing more')

  // No notification at all: the reconciler queries the trade.
  const sp = (await http.request('POST', `/api/v1/orders/${silent}/payments`, { token: env.token(13) })).body.data
  stub.trades.set(`seckill-${sp.id as string}`, 'TRADE_SUCCESS')
  await until(async () => await orderStatus(env, silent) === 'paid', 10_000, 'the reconciler to pay the order')
  t.equal((await paymentRow(env, silent)).status, 'captured')
})
