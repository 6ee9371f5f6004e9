/**
 * `npm run create-admin -- <email> <password>`: creates an admin account, or makes an existing
 * account admin and sets its password to the one given (so an account someone else registered
 * with that address does not keep their password). Uses DATABASE_URL like the service (migrating
 * first if needed).
 */
import { loadConfig } from '../config'
import { createDb, migrateLatest } from '../db/knex'
import { setAdmin, usersRepository } from '../domain/accounts'

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
    const { user, created } = await setAdmin({ users: usersRepository(db) }, email, password)
    process.stdout.write(created
      ? `admin ${user.email} (id ${user.id}) created with the password given\n`
      : `existing account ${user.email} (id ${user.id}) is now admin; its password was set to the one given\n`)
  } finally {
    await db.destroy()
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`create-admin failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
