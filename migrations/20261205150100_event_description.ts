import type { Knex } from 'knex'

/**
 * `seckill_events.description`: the sale's own text for buyers (issue 32, "edit before the
 * start": title, description, price and window), plain text of at most 2,000 characters; null when
 * the sale has none.
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.alterTable('seckill_events', (t) => {
    t.text('description').nullable().defaultTo(null)
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.alterTable('seckill_events', (t) => {
    t.dropColumn('description')
  })
}
