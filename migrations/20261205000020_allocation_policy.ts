import type { Knex } from 'knex'

/**
 * The allocation policy of a sale (src/sale/allocation/): how units go to buyers
 * (`allocation_mode`: first_come) and how buyers enter (`entry_mode`: on_start). Existing sales
 * keep today's behaviour, the defaults. Strings rather than MySQL ENUMs: a new policy is a new
 * value, not an ALTER of a hot table.
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.alterTable('seckill_events', (t) => {
    t.string('allocation_mode', 16).notNullable().defaultTo('first_come')
    t.string('entry_mode', 24).notNullable().defaultTo('on_start')
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.alterTable('seckill_events', (t) => {
    t.dropColumn('allocation_mode')
    t.dropColumn('entry_mode')
  })
}
