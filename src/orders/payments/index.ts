/**
 * The payments front door: the provider chosen by configuration, and what the routes, the worker
 * and the drills use. Nothing outside this folder imports its other files.
 */
import { createHmac } from 'node:crypto'
import type { Logger } from 'pino'
import type { PaymentsConfig } from '../../config'
import type { Db } from '../../db/knex'
import type { LifecycleDeps } from '../order-lifecycle'
import { localProvider } from './local-provider'
import type { LocalProvider } from './local-provider'
import type { PaymentDeps } from './deps'
import { paymentsRepository } from './payments-repo'
import { stripeProvider } from './stripe-provider'
import { alipayProvider } from './alipay-provider'
import type { PaymentProvider } from './provider'

export { applyEvent, getPayment, paymentView, startPayment } from './payment-flow'
export type { EventOutcome, PaymentView } from './payment-flow'
export type { PaymentDeps } from './deps'
export { refundOrder } from './refunds'
export type { RefundAnswer } from './refunds'
export { PaymentReconciler } from './payment-reconciler'
export { PAYMENT_STATUSES, paymentsRepository } from './payments-repo'
export type { Payment, PaymentStatus, PaymentsRepository } from './payments-repo'
export { PAYMENT_PROVIDERS, ProviderError, WebhookSignatureError } from './provider'
export type { PaymentEvent, PaymentProvider, ProviderName, WebhookDelivery } from './provider'
export type { LocalIntent, LocalProvider } from './local-provider'
export { LOCAL_SIGNATURE_HEADER, signLocal } from './local-signature'
export { STRIPE_TOLERANCE_S } from './stripe-provider'
export { NOTIFY_MAX_AGE_MS, NOTIFY_MAX_AHEAD_MS } from './alipay-provider'

/** The local provider's signing key: PAYMENT_WEBHOOK_SECRET, else one derived from the JWT key (never a public one). */
export function localWebhookSecret (config: PaymentsConfig, jwtSecret: string): string {
  return config.webhookSecret ?? createHmac('sha256', jwtSecret).update('seckill local payment webhooks').digest('hex')
}

export interface PaymentsSetup {
  readonly deps: PaymentDeps
  /** Set when the provider is the local one (its page routes need it). */
  readonly local: LocalProvider | undefined
  /** Tells the local provider where this process's webhook route listens. */
  listening: (address: string) => void
  close: () => Promise<void>
}

export function createPayments (o: { config: PaymentsConfig, db: Db, lifecycle: LifecycleDeps, jwtSecret: string, log: Logger, onOutcome?: (outcome: string) => void }): PaymentsSetup {
  const c = o.config
  let address: string | undefined
  let local: LocalProvider | undefined
  let provider: PaymentProvider
  switch (c.provider) {
    case 'local':
      local = localProvider({
        db: o.db,
        secret: localWebhookSecret(c, o.jwtSecret),
        webhookUrl: () => c.localWebhookUrl ?? (address === undefined ? undefined : `${address}/api/v1/payments/webhooks/local`),
        faults: { maxDelayMs: c.localDelayMs, dropRate: c.localDropRate, repeatRate: c.localRepeatRate },
        log: o.log
      })
      provider = local
      break
    case 'stripe':
      // loadConfig refuses stripe without both.
      provider = stripeProvider({ secretKey: c.stripeSecretKey as string, webhookSecret: c.stripeWebhookSecret as string, apiUrl: c.stripeApiUrl })
      break
    case 'alipay':
      // loadConfig refuses alipay without its app id and both keys.
      provider = alipayProvider({
        appId: c.alipayAppId as string,
        privateKey: c.alipayPrivateKey as string,
        alipayPublicKey: c.alipayPublicKey as string,
        gateway: c.alipayGateway,
        notifyUrl: `${c.publicUrl}/api/v1/payments/webhooks/alipay`
      })
      break
  }
  const returnUrl = (orderId: number, paymentId: number): string => {
    const path = `/?order=${orderId}&payment=${paymentId}`
    return c.provider === 'local' ? path : `${c.publicUrl}${path}`
  }
  return {
    deps: { db: o.db, lifecycle: o.lifecycle, payments: paymentsRepository(o.db), provider, currency: c.provider === 'alipay' ? 'cny' : c.currency, returnUrl, log: o.log, onOutcome: o.onOutcome },
    local,
    listening: (a) => { address = a },
    close: async () => { await provider.close?.() }
  }
}
