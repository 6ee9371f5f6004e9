/**
 * Alipay, with the official `alipay-sdk` (the seed's provider): the buyer pays on Alipay's page
 * (`alipay.trade.page.pay`, a signed URL; `out_trade_no` is our payment, so Alipay itself holds one
 * trade per payment), Alipay posts an asynchronous notification (form-encoded) that is verified
 * with the SDK's RSA2 check against Alipay's public key, and answered with the text `success`.
 * Queries and refunds go through `exec`, whose answers are verified too (`validateSign`).
 *
 * A notification is acted on only when signed by Alipay, for our app id, not older than
 * NOTIFY_MAX_AGE_MS (Alipay retries an unacknowledged one for about 25 hours; a captured one
 * replayed later than that is refused) and not dated more than NOTIFY_MAX_AHEAD_MS ahead of our
 * clock (a notice dated ahead would outlive the age bound by as much; the margin is for clock
 * skew). Its `notify_id` is the event id deduplicated. A notice
 * carrying `refund_fee` is a refund's (its `out_biz_no` is our refund's idempotency key).
 */
import { AlipaySdk } from 'alipay-sdk'
import type { CreatePaymentRequest, CreatedPayment, PaymentEvent, PaymentProvider, ProviderPaymentState, RefundRequest, RefundResult, WebhookDelivery } from './provider'
import { ProviderError, WebhookSignatureError } from './provider'

export interface AlipayOptions {
  readonly appId: string
  readonly privateKey: string
  readonly alipayPublicKey: string
  readonly gateway?: string
  /** Where Alipay posts notifications (PUBLIC_URL + the webhook route). */
  readonly notifyUrl: string
}

export const NOTIFY_MAX_AGE_MS = 48 * 3600_000
export const NOTIFY_MAX_AHEAD_MS = 5 * 60_000
const REFUND_KEY = /^seckill-refund-(\d+)$/
const TRADE = /^seckill-(\d+)$/

/** `yyyy-MM-dd HH:mm:ss` on Beijing time (UTC+8), as Alipay writes notify_time. */
function beijingTime (s: string | undefined): number {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(s ?? '')
  if (m === null) return Number.NaN
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]) - 8, Number(m[5]), Number(m[6]))
}

const yuan = (cents: number): string => (cents / 100).toFixed(2)
const cents = (yuanText: string | undefined): number | undefined => yuanText === undefined ? undefined : Math.round(Number(yuanText) * 100)

export function alipayProvider (o: AlipayOptions, now: () => number = Date.now): PaymentProvider {
  const sdk = new AlipaySdk({ appId: o.appId, privateKey: o.privateKey, alipayPublicKey: o.alipayPublicKey, signType: 'RSA2', keyType: 'PKCS8', ...(o.gateway === undefined ? {} : { gateway: o.gateway }) })

  const exec = async (method: string, bizContent: Record<string, unknown>): Promise<Record<string, any>> => {
    try {
      return await sdk.exec(method, { bizContent }, { validateSign: true }) as Record<string, any>
    } catch (err) {
      throw new ProviderError(`alipay ${method}: ${(err as Error).message}`)
    }
  }

  return {
    name: 'alipay',
    webhookAck: { contentType: 'text/plain; charset=utf-8', body: 'success' },

    async createPayment (req: CreatePaymentRequest): Promise<CreatedPayment> {
      const ref = `seckill-${req.paymentId}`
      const url = sdk.pageExecute('alipay.trade.page.pay', 'GET', {
        bizContent: { out_trade_no: ref, product_code: 'FAST_INSTANT_TRADE_PAY', total_amount: yuan(req.amountCents), subject: req.description },
        returnUrl: req.returnUrl,
        notifyUrl: o.notifyUrl
      })
      return { ref, redirectUrl: url }
    },

    verifyWebhook (d: WebhookDelivery): PaymentEvent {
      const form = Object.fromEntries(new URLSearchParams(d.body.toString('utf8')))
      if (form.sign === undefined || !sdk.checkNotifySignV2(form)) throw new WebhookSignatureError('RSA2 signature does not check out')
      if (form.app_id !== o.appId) throw new WebhookSignatureError('notification for another app')
      const at = beijingTime(form.notify_time)
      if (!Number.isFinite(at) || now() - at > NOTIFY_MAX_AGE_MS) throw new WebhookSignatureError('notify_time missing or too old')
      if (at - now() > NOTIFY_MAX_AHEAD_MS) throw new WebhookSignatureError('notify_time in the future')
      const eventId = form.notify_id ?? ''
      const ref = form.out_trade_no ?? ''
      if (eventId === '' || ref === '') throw new WebhookSignatureError('notify_id or out_trade_no missing')
      const paymentId = Number(TRADE.exec(ref)?.[1]) || undefined
      if (form.refund_fee !== undefined) {
        const refundId = Number(REFUND_KEY.exec(form.out_biz_no ?? '')?.[1]) || undefined
        return { kind: 'refund_succeeded', eventId, ref, paymentId, refundId, amountCents: cents(form.refund_fee) }
      }
      if (form.trade_status === 'TRADE_SUCCESS' || form.trade_status === 'TRADE_FINISHED') return { kind: 'payment_succeeded', eventId, ref, paymentId, amountCents: cents(form.total_amount) }
      if (form.trade_status === 'TRADE_CLOSED') return { kind: 'payment_failed', eventId, ref, paymentId }
      return { kind: 'ignored', eventId, type: String(form.trade_status) }
    },

    async fetchPayment (ref: string): Promise<ProviderPaymentState> {
      const r = await exec('alipay.trade.query', { out_trade_no: ref })
      if (r.code === '40004' && r.subCode === 'ACQ.TRADE_NOT_EXIST') return 'pending'
      if (r.code !== '10000') throw new ProviderError(`alipay trade.query: ${String(r.code)} ${String(r.subCode ?? '')}`)
      if (r.tradeStatus === 'TRADE_SUCCESS' || r.tradeStatus === 'TRADE_FINISHED') return 'succeeded'
      return r.tradeStatus === 'TRADE_CLOSED' ? 'failed' : 'pending'
    },

    async refund (req: RefundRequest): Promise<RefundResult> {
      // out_request_no is Alipay's idempotency key for a refund of a trade.
      const r = await exec('alipay.trade.refund', { out_trade_no: req.ref, refund_amount: yuan(req.amountCents), out_request_no: req.idempotencyKey })
      if (r.code === '10000') return { status: 'succeeded', providerRef: req.idempotencyKey }
      if (r.code === '40004') return { status: 'failed', providerRef: req.idempotencyKey }
      throw new ProviderError(`alipay trade.refund: ${String(r.code)} ${String(r.subCode ?? '')}`)
    }
  }
}
