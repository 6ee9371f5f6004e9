import type { Knex } from 'knex'

/**
 * The fencing token of each event shard's drain, kept where the orders are written. Every takeover
 * of a shard lease raises it; a drain batch writes its orders only while the token it was started
 * with is still the shard's (checked under a shared lock in the batch's own transaction), so an
 * owner that stalled and lost its lease commits nothing when it wakes up.
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.createTable('shard_fences', (t) => {
    t.bigInteger('event_id').unsigned().notNullable()
    t.integer('shard').unsigned().notNullable()
    t.bigInteger('fence').unsigned().notNullable()
    t.primary(['event_id', 'shard'])
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('shard_fences')
}
