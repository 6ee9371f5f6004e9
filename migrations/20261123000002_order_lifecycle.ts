import type { Knex } from 'knex'

/**
 * The order lifecycle after the sale: a payment deadline per order (and the index the expiry
 * backstop scans), when it was paid, and events that require a buy token.
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.alterTable('orders', (t) => {
    t.datetime('expires_at', { precision: 3 }).nullable()
    t.datetime('paid_at', { precision: 3 }).nullable()
    t.index(['status', 'expires_at'], 'orders_status_expires_idx')
  })
  await knex.schema.alterTable('seckill_events', (t) => {
    t.boolean('require_token').notNullable().defaultTo(false)
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.alterTable('seckill_events', (t) => { t.dropColumn('require_token') })
  await knex.schema.alterTable('orders', (t) => {
    t.dropIndex(['status', 'expires_at'], 'orders_status_expires_idx')
    t.dropColumn('paid_at')
    t.dropColumn('expires_at')
  })
}
