import type { Knex } from 'knex'

/**
 * A ticket may have a unit to give back in two shards: its order's unit where it was first held,
 * and a new one a replayed batch reserved elsewhere after the first holder's state was lost with
 * Redis (reason `replayed`). A return is now one per ticket and holding shard.
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.alterTable('unit_returns', (t) => {
    t.unique(['ticket_id', 'shard'], { indexName: 'unit_returns_ticket_shard_unique' })
  })
  await knex.schema.alterTable('unit_returns', (t) => {
    t.dropUnique(['ticket_id'])
  })
  await knex.raw("ALTER TABLE unit_returns MODIFY reason ENUM('cancelled', 'expired', 'already_ordered', 'lost_in_redis', 'replayed') NOT NULL")
}

export async function down (knex: Knex): Promise<void> {
  await knex.raw("DELETE FROM unit_returns WHERE reason = 'replayed'")
  await knex.raw("ALTER TABLE unit_returns MODIFY reason ENUM('cancelled', 'expired', 'already_ordered', 'lost_in_redis') NOT NULL")
  await knex.schema.alterTable('unit_returns', (t) => {
    t.unique(['ticket_id'])
  })
  await knex.schema.alterTable('unit_returns', (t) => {
    t.dropUnique(['ticket_id', 'shard'], 'unit_returns_ticket_shard_unique')
  })
}
