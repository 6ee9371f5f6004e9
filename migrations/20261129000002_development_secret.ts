import type { Knex } from 'knex'

/**
 * Secrets a deployment makes for itself. Today one: the JWT key of a development deployment that
 * was given no JWT_SECRET, made at random on its first start and shared by every process that
 * uses the same database.
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.createTable('app_secrets', (t) => {
    t.string('name', 64).primary()
    t.string('value', 255).notNullable()
    t.datetime('created_at', { precision: 3 }).notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(3)'))
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('app_secrets')
}
