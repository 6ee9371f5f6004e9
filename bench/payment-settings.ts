/**
 * Benches run the service with NODE_ENV=production, which refuses the local payment provider
 * (it takes no money). No bench pays, so Stripe is configured with keys that are never used:
 * the adapter makes no call until a buyer starts a payment.
 */
export const BENCH_PAYMENT_SETTINGS = {
  PAYMENT_PROVIDER: 'stripe',
  STRIPE_SECRET_KEY: 'sk_test_bench_never_called',
  STRIPE_WEBHOOK_SECRET: 'whsec_Q7vK2mX9pL4tR8nB3cW6yF1hJ5dZ0sGa'
} as const
