/**
 * `npm run create-admin -- <email> <password>`: creates an admin account, or makes an existing
 * account admin. Uses DATABASE_URL like the service (migrating first if needed).
 */
import { loadConfig } from '../config'
import { createDb, migrateLatest } from '../db/knex'
import { ensureAdmin, usersRepository } from '../domain/accounts'

async function main (): Promise<void> {
  const [email, password] = process.argv.slice(2)
  if (email === undefined || password === undefined || password.length < 8 || !email.includes('@')) {
    process.stderr.write('usage: npm run create-admin -- <email> <password of 8+ characters>\n')
    process.exit(2)
  }
  const config = loadConfig()
  await migrateLatest(config.databaseUrl)
  const db = createDb(config.databaseUrl, { poolMax: 1 })
  try {
    const admin = await ensureAdmin({ users: usersRepository(db) }, email, password)
    process.stdout.write(`admin ${admin.email} (id ${admin.id}) is ready\n`)
  } finally {
    await db.destroy()
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`create-admin failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
