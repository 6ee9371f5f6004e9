import type { Knex } from 'knex'

/**
 * Payments through a provider (issue 33).
 *
 * - `orders.status` gains `refunded`: a paid order whose money went back (its unit stays sold).
 * - `payments`: one per order (unique), the provider's reference, and where it stands.
 * - `payment_refunds`: each refund asked of the provider, with its own idempotency key.
 * - `payment_events`: every provider event handled, keyed by the provider's event id, so a
 *   webhook delivered twice (or eight times at once) is acted on once.
 * - `local_pay_intents`, `local_pay_refunds`: the local provider's own books (the provider the
 *   service runs itself, for development, tests and drills).
 */
export async function up (knex: Knex): Promise<void> {
  await knex.raw("ALTER TABLE orders MODIFY status ENUM('pending_payment','paid','cancelled','expired','refunded') NOT NULL DEFAULT 'pending_payment'")
  await knex.schema.createTable('payments', (t) => {
    t.bigIncrements('id')
    t.bigInteger('order_id').unsigned().notNullable().unique()
    t.string('provider', 16).notNullable()
    t.string('provider_ref', 255).nullable()
    t.integer('amount_cents').notNullable()
    t.string('currency', 3).notNullable()
    // pending | failed (the last attempt was declined; it may still succeed) | captured | refunding | refunded
    t.string('status', 16).notNullable().defaultTo('pending')
    t.integer('refunded_cents').notNullable().defaultTo(0)
    // Set when the money was captured but the order could not be paid (expired or cancelled first).
    t.string('late', 16).nullable()
    t.text('redirect_url').nullable()
    t.datetime('created_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'))
    t.datetime('updated_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'))
    t.datetime('captured_at', { precision: 3 }).nullable()
    t.unique(['provider', 'provider_ref'])
    t.index(['status', 'updated_at'])
  })
  await knex.schema.createTable('payment_refunds', (t) => {
    t.bigIncrements('id')
    t.bigInteger('payment_id').unsigned().notNullable()
    t.integer('amount_cents').notNullable()
    // late (a payment after expiry or cancel) | admin
    t.string('reason', 16).notNullable()
    // requested | succeeded | failed
    t.string('status', 16).notNullable().defaultTo('requested')
    t.string('provider_ref', 255).nullable()
    t.bigInteger('actor_id').unsigned().nullable()
    t.datetime('created_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'))
    t.datetime('updated_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'))
    t.index(['payment_id'])
    t.index(['status', 'updated_at'])
  })
  await knex.schema.createTable('payment_events', (t) => {
    t.string('provider', 16).notNullable()
    t.string('event_id', 191).notNullable()
    t.string('kind', 32).notNullable()
    t.bigInteger('payment_id').unsigned().nullable()
    t.string('outcome', 32).notNullable()
    t.datetime('received_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'))
    t.primary(['provider', 'event_id'])
    t.index(['payment_id'])
  })
  await knex.schema.createTable('local_pay_intents', (t) => {
    t.string('id', 40).primary()
    t.string('idempotency_key', 191).notNullable().unique()
    t.integer('amount_cents').notNullable()
    t.string('currency', 3).notNullable()
    t.string('payment_id', 40).notNullable()
    t.string('description', 200).notNullable()
    // requires_action | succeeded | failed
    t.string('status', 16).notNullable().defaultTo('requires_action')
    t.integer('refunded_cents').notNullable().defaultTo(0)
    t.text('return_url').notNullable()
    t.datetime('created_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'))
  })
  await knex.schema.createTable('local_pay_refunds', (t) => {
    t.string('id', 40).primary()
    t.string('idempotency_key', 191).notNullable().unique()
    t.string('intent_id', 40).notNullable()
    t.integer('amount_cents').notNullable()
    t.string('refund_id', 40).notNullable()
    t.datetime('created_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'))
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.dropTable('local_pay_refunds')
  await knex.schema.dropTable('local_pay_intents')
  await knex.schema.dropTable('payment_events')
  await knex.schema.dropTable('payment_refunds')
  await knex.schema.dropTable('payments')
  await knex.raw("ALTER TABLE orders MODIFY status ENUM('pending_payment','paid','cancelled','expired') NOT NULL DEFAULT 'pending_payment'")
}
