import type { Knex } from 'knex'

/**
 * `seckill_events.line_message`: the operator's message to everyone in the sale's line (issue 32),
 * plain text of 1-280 characters, and `line_message_at`, when it was set, on MySQL's clock. On the
 * sale's row so that every ingress serves the same message (each reads the row through its event
 * cache); null when there is none.
 */
export async function up (knex: Knex): Promise<void> {
  await knex.schema.alterTable('seckill_events', (t) => {
    t.specificType('line_message', 'VARCHAR(280)').nullable().defaultTo(null)
    t.specificType('line_message_at', 'DATETIME(3)').nullable().defaultTo(null)
  })
}

export async function down (knex: Knex): Promise<void> {
  await knex.schema.alterTable('seckill_events', (t) => {
    t.dropColumn('line_message_at')
    t.dropColumn('line_message')
  })
}
