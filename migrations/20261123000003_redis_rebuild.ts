import type { Knex } from 'knex'

/**
 * When an event's sale state was first put into Redis. A later warm-up that finds the state
 * missing is then known to be a rebuild after Redis lost it (not a first warm-up), and the shard
 * starts its queue positions past any that may have been handed out before the loss.
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.alterTable('seckill_events', (t) => {
    t.datetime('warmed_at', { precision: 3 }).nullable()
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.alterTable('seckill_events', (t) => { t.dropColumn('warmed_at') })
}
