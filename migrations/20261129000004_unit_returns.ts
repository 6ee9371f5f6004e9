import type { Knex } from 'knex'

/**
 * The outbox of units that come back to a sale. A cancel, an expiry, or a drain that finds a
 * winner already holds an order records the return here in the same transaction that changes the
 * order (or finds it), and a rebuild after Redis lost a shard records the units surviving shards
 * lent to its lost tickets; the owner of the shard holding the unit applies it to Redis between its
 * batches, once, and stamps `applied_at`. `orders.unit_shard` says which shard's stock the order's
 * unit came from (a ticket may borrow a unit from a sibling shard).
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.createTable('unit_returns', (t) => {
    t.bigIncrements('id').primary()
    t.bigInteger('event_id').unsigned().notNullable()
    t.integer('shard').unsigned().notNullable()
    t.string('ticket_id', 64).notNullable().unique()
    t.enu('reason', ['cancelled', 'expired', 'already_ordered', 'lost_in_redis']).notNullable()
    t.datetime('created_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'))
    t.datetime('applied_at', { precision: 3 }).nullable()
    t.index(['applied_at', 'event_id', 'shard'])
  })
  await knex.schema.alterTable('orders', (t) => {
    t.integer('unit_shard').unsigned().nullable()
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.alterTable('orders', (t) => { t.dropColumn('unit_shard') })
  await knex.schema.dropTableIfExists('unit_returns')
}
