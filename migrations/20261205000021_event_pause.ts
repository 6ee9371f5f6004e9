import type { Knex } from 'knex'

/**
 * `seckill_events.paused_at`: set while an operator holds the sale (issue 32). The row is the one
 * truth every drain reads before each batch: a paused sale still admits and queues buyers, but no
 * drain decides a ticket of it until the column is null again.
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.alterTable('seckill_events', (t) => {
    t.specificType('paused_at', 'DATETIME(3)').nullable().defaultTo(null)
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.alterTable('seckill_events', (t) => {
    t.dropColumn('paused_at')
  })
}
