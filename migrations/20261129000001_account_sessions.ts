import type { Knex } from 'knex'

/**
 * Sign-ins issued before this moment are void: set when an account's password is set for it
 * (`create-admin`), so whoever held the account before loses it, refresh tokens included.
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.datetime('sessions_since', { precision: 3 }).nullable()
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => { t.dropColumn('sessions_since') })
}
