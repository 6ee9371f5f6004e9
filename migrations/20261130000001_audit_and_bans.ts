import type { Knex } from 'knex'

/**
 * `admin_audit`: every admin write (products, events, order cancels for a buyer, bans, role
 * changes), who made it, from where, with which request; read at GET /api/v1/admin/audit.
 * `users.banned_at`: a banned buyer's buys are refused in the admission script, and its sign-ins
 * and refreshes fail.
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.createTable('admin_audit', (t) => {
    t.bigIncrements('id')
    t.datetime('at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'))
    t.bigInteger('actor_id').unsigned().nullable()
    t.string('action', 64).notNullable()
    t.string('target_type', 32).notNullable()
    t.string('target_id', 64).nullable()
    t.text('detail').nullable()
    t.string('request_id', 64).nullable()
    t.string('address', 64).nullable()
    t.index(['at'])
    t.index(['actor_id', 'at'])
    t.index(['action', 'at'])
  })
  await knex.schema.alterTable('users', (t) => {
    t.datetime('banned_at', { precision: 3 }).nullable()
    t.string('ban_reason', 200).nullable()
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('banned_at')
    t.dropColumn('ban_reason')
  })
  await knex.schema.dropTable('admin_audit')
}
