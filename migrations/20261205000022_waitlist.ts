import type { Knex } from 'knex'

/**
 * A sale may keep a waitlist for units that come back (src/sale/allocation/waitlist.ts): buyers
 * turned away wait on it in arrival order and get returned units before newcomers. Off for every
 * existing sale.
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.alterTable('seckill_events', (t) => {
    t.boolean('waitlist').notNullable().defaultTo(false)
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.alterTable('seckill_events', (t) => {
    t.dropColumn('waitlist')
  })
}
