/** What the payment flow, refunds and the payment reconciler work with. */
import type { Logger } from 'pino'
import type { Db } from '../../db/knex'
import type { LifecycleDeps } from '../order-lifecycle'
import type { PaymentsRepository } from './payments-repo'
import type { PaymentProvider } from './provider'

export interface PaymentDeps {
  readonly db: Db
  readonly lifecycle: LifecycleDeps
  readonly payments: PaymentsRepository
  readonly provider: PaymentProvider
  readonly currency: string
  /** Where the provider sends the buyer back after paying. */
  readonly returnUrl: (orderId: number, paymentId: number) => string
  readonly log: Logger
  /** Metrics: what an event or a call did (`paid`, `late_refund`, `duplicate`, `refunded`, ...). */
  readonly onOutcome?: (outcome: string) => void
}
