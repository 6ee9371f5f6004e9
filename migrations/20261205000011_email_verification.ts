import type { Knex } from 'knex'

/**
 * Email verification: `users.email_verified_at` is set when the owner types the code mailed to the
 * address (src/identity/email-verification.ts); `seckill_events.require_verified_email` makes a sale
 * refuse buyers whose access token does not carry the verified claim (checked in admission, with
 * no Redis round trip).
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.datetime('email_verified_at', { precision: 3 }).nullable()
  })
  await knex.schema.alterTable('seckill_events', (t) => {
    t.boolean('require_verified_email').notNullable().defaultTo(false)
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.alterTable('seckill_events', (t) => {
    t.dropColumn('require_verified_email')
  })
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('email_verified_at')
  })
}
