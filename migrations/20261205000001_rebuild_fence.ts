import type { Knex } from 'knex'

/**
 * A rebuild of an event's Redis state runs under the event's row lock and takes a new rebuild
 * fence there; it warms a shard only while that fence is the shard's newest claim
 * (lua/claimShard, lua/warmShard), so a rebuild that lost its lock changes nothing.
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.alterTable('seckill_events', (t) => {
    t.bigInteger('rebuild_fence').unsigned().notNullable().defaultTo(0)
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.alterTable('seckill_events', (t) => {
    t.dropColumn('rebuild_fence')
  })
}
