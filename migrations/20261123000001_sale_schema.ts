import type { Knex } from 'knex'

/**
 * The sale's tables. Stays within what MariaDB 10.11 and MySQL 8 both support.
 *
 * `orders.user_id` has no foreign key to `users`: buyers are identified by the JWT subject, which
 * may come from an outside identity provider. One order per (event, user) is enforced here, as is
 * one order per ticket, so a replayed drain batch can never write an order twice.
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.bigIncrements('id').primary()
    t.string('email', 254).notNullable().unique()
    t.string('password_hash', 255).nullable()
    t.enu('role', ['user', 'admin']).notNullable().defaultTo('user')
    t.datetime('created_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'))
  })

  await knex.schema.createTable('products', (t) => {
    t.bigIncrements('id').primary()
    t.string('title', 200).notNullable()
    t.text('description').nullable()
    t.integer('price_cents').unsigned().notNullable()
    t.datetime('created_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'))
    t.datetime('updated_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'))
  })

  await knex.schema.createTable('seckill_events', (t) => {
    t.bigIncrements('id').primary()
    t.bigInteger('product_id').unsigned().notNullable().references('id').inTable('products')
    t.string('title', 200).notNullable()
    t.integer('price_cents').unsigned().notNullable()
    t.integer('stock').unsigned().notNullable()
    t.integer('sold').unsigned().notNullable().defaultTo(0)
    t.tinyint('shards').unsigned().notNullable().defaultTo(1)
    t.datetime('start_at', { precision: 3 }).notNullable()
    t.datetime('end_at', { precision: 3 }).notNullable()
    t.datetime('created_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'))
    t.datetime('updated_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'))
    t.index(['end_at', 'start_at'], 'seckill_events_window_idx')
  })
  // The last line of defence against overselling, below the guarded UPDATE in the drain.
  await knex.raw('ALTER TABLE seckill_events ADD CONSTRAINT seckill_events_sold_le_stock CHECK (sold <= stock)')

  await knex.schema.createTable('orders', (t) => {
    t.bigIncrements('id').primary()
    t.string('ticket_id', 48).notNullable().unique('orders_ticket_id_unique')
    t.bigInteger('event_id').unsigned().notNullable().references('id').inTable('seckill_events')
    t.bigInteger('user_id').unsigned().notNullable()
    t.integer('price_cents').unsigned().notNullable()
    t.enu('status', ['pending_payment', 'paid', 'cancelled', 'expired']).notNullable().defaultTo('pending_payment')
    t.datetime('created_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'))
    t.datetime('updated_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'))
    t.unique(['event_id', 'user_id'], { indexName: 'orders_event_user_unique' })
    t.index(['user_id', 'created_at'], 'orders_user_idx')
    t.index(['event_id', 'status'], 'orders_event_status_idx')
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('orders')
  await knex.schema.dropTableIfExists('seckill_events')
  await knex.schema.dropTableIfExists('products')
  await knex.schema.dropTableIfExists('users')
}
