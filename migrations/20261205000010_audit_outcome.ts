import type { Knex } from 'knex'

/**
 * `admin_audit.outcome`: `done` for a change (written in the change's own transaction), `refused`
 * or `failed` for an attempt that changed nothing: an admin's write answered 4xx or 5xx, or a
 * signed-in non-admin turned away from an admin route (ASVS 7.1.3, 7.2.2).
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.alterTable('admin_audit', (t) => {
    t.string('outcome', 16).notNullable().defaultTo('done')
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.alterTable('admin_audit', (t) => {
    t.dropColumn('outcome')
  })
}
