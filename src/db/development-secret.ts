/**
 * The JWT key of a development deployment started without JWT_SECRET: random, made once on the
 * first start and kept in the database, so `npm start`, PM2 and the CLI on one machine agree on
 * it and it survives restarts. No secret printed in a README or shipped in the code is ever
 * accepted. Production refuses to start without JWT_SECRET (src/config.ts).
 */
import { randomBytes } from 'node:crypto'
import type { Db } from './knex'

const NAME = 'jwt_development'

export async function developmentJwtSecret (db: Db): Promise<string> {
  // The first process to get here makes it; the others read the one that won.
  await db('app_secrets').insert({ name: NAME, value: randomBytes(48).toString('base64url') }).onConflict('name').ignore()
  const row = await db('app_secrets').first('value').where({ name: NAME }) as { value: string }
  return row.value
}
