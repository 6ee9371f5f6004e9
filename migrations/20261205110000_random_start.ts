import type { Knex } from 'knex'

/**
 * A randomized start (`entry_mode` random_at_start, src/sale/allocation/random-start.ts): the
 * sale's lead window (`lead_ms`, null: the default), the secret seed that orders the lead
 * window's buyers and its published commitment (SHA-256 of the seed), made with the sale; and
 * each shard's placement as its owner recorded it, so anyone can check the order once the seed is
 * shown (GET /api/v1/events/:id/start-draw). A shard rebuilt after Redis lost it may place again
 * from a new base: one row per (shard, base).
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.alterTable('seckill_events', (t) => {
    t.integer('lead_ms').unsigned().nullable()
    t.specificType('start_seed', 'CHAR(64)').nullable()
    t.specificType('start_commitment', 'CHAR(64)').nullable()
  })
  await knex.schema.createTable('start_placements', (t) => {
    t.bigInteger('event_id').unsigned().notNullable()
    t.integer('shard').unsigned().notNullable()
    t.bigInteger('base').unsigned().notNullable()
    t.integer('placed').unsigned().notNullable()
    t.specificType('entries', 'LONGTEXT').notNullable()
    t.specificType('placed_at', 'DATETIME(3)').notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'))
    t.primary(['event_id', 'shard', 'base'])
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.dropTable('start_placements')
  await knex.schema.alterTable('seckill_events', (t) => {
    t.dropColumn('lead_ms')
    t.dropColumn('start_seed')
    t.dropColumn('start_commitment')
  })
}
