/**
 * Orders: their repository, their lifecycle after the sale (pay, cancel, expiry), payment
 * deadlines on MySQL's clock, the order write the drain commits (its SQL and its rules: the drain
 * only hands it each shard's winners and fencing number), and payments through a provider.
 *
 * The front door: other areas, the drain and the HTTP layer import orders from here only
 * (.dependency-cruiser.cjs). Orders may use identity, the catalog and the stock module's front
 * door; never the sale.
 */

export { cancelOrder, getOrder, payOrder } from './order-lifecycle'
export type { LifecycleDeps } from './order-lifecycle'
export { ORDER_STATUSES, orderView, ordersRepository } from './orders'
export type { OrderFilter, OrderSortField, OrderStatus, OrdersRepository } from './orders'
export { PaymentDeadlines } from './payment-deadline'
export { existingOrders, probeConsecutiveIds } from './order-rows'
export type { OrderWriteSettings, Winner, WriteResult } from './order-rows'
export { unitGoesBack } from './order-write'
export { writeParts } from './joint-write'
export { PAYMENT_STATUSES, PaymentReconciler, WebhookSignatureError, applyEvent, createPayments, getPayment, refundOrder, startPayment } from './payments'
export type { LocalIntent, LocalProvider, PaymentDeps, PaymentsSetup } from './payments'
