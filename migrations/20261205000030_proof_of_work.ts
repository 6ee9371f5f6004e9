import type { Knex } from 'knex'

/**
 * A sale may ask each buyer's page to solve a small proof of work before it buys
 * (src/sale/proof-of-work.ts): `pow_max_number` is the challenge's difficulty, the largest counter
 * the page may have to try (it tries about half on average). NULL, the default, means off: every
 * existing sale stays as it was.
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.alterTable('seckill_events', (t) => {
    t.integer('pow_max_number').unsigned().nullable().defaultTo(null)
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.alterTable('seckill_events', (t) => {
    t.dropColumn('pow_max_number')
  })
}
