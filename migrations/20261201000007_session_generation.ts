import type { Knex } from 'knex'

/**
 * `users.session_gen`: every access and refresh token carries the generation it was issued under;
 * raising it (a ban, a promotion, a password change, create-admin, "sign out everywhere") voids
 * every earlier one. Access tokens are checked against it on every authenticated route but the
 * crowd's (buy and poll), through a Redis cache of this column (src/identity/sessions.ts).
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.integer('session_gen').unsigned().notNullable().defaultTo(0)
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => { t.dropColumn('session_gen') })
}
