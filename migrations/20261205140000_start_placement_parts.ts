import type { Knex } from 'knex'

/**
 * A shard's placement recorded in parts (`part`, from 0), each a slice of its placed order in
 * drawn order: a draw of 1,000,000 entries is about 35 MB of JSON, over MariaDB's default
 * max_allowed_packet (16 MB), so one row could be neither written nor read back. Rows made before
 * are part 0 of their placement, whole. `placed` stays the whole placement's count on every part.
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.alterTable('start_placements', (t) => {
    t.integer('part').unsigned().notNullable().defaultTo(0)
  })
  await knex.raw('ALTER TABLE start_placements DROP PRIMARY KEY, ADD PRIMARY KEY (event_id, shard, base, part)')
}

export async function down (knex: Knex): Promise<void> {
  // A placement recorded in several parts cannot be kept whole in one row: it is dropped.
  await knex.raw('DELETE p FROM start_placements p JOIN start_placements q ON q.event_id = p.event_id AND q.shard = p.shard AND q.base = p.base AND q.part > 0')
  await knex.raw('ALTER TABLE start_placements DROP PRIMARY KEY, ADD PRIMARY KEY (event_id, shard, base)')
  await knex.schema.alterTable('start_placements', (t) => {
    t.dropColumn('part')
  })
}
