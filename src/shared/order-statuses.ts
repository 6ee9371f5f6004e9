import type { OrderStatus } from '../shapes/api'

/**
 * Orders that hold a unit of the sale. A refunded order keeps its unit: the money goes back, the
 * unit is not sold again (README "Refunds and the sale's stock"), so `sold` still counts it.
 */
export const LIVE_ORDER_STATUSES: readonly OrderStatus[] = ['pending_payment', 'paid', 'refunded']
