import type { Knex } from 'knex'

/**
 * The entries a shard's placement excluded: entrants banned before it, placed with a ticket born
 * `failed` (reason `banned`, lua/placeEntrants) and never given a unit. Recorded by the owner
 * before the placement itself (src/sale/allocation/start-placement.ts), once per (shard, base), so
 * a draw's published result (GET /api/v1/events/:id/draw) names who actually won: the first
 * `units` of the drawn order that were not excluded.
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.createTable('start_exclusions', (t) => {
    t.bigInteger('event_id').unsigned().notNullable()
    t.integer('shard').unsigned().notNullable()
    t.bigInteger('base').unsigned().notNullable()
    t.specificType('entries', 'LONGTEXT').notNullable()
    t.specificType('recorded_at', 'DATETIME(3)').notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'))
    t.primary(['event_id', 'shard', 'base'])
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.dropTable('start_exclusions')
}
