/**
 * `npm run create-admin -- <email> <password>`: creates an admin account, or makes an existing
 * account admin and sets its password to the one given (so an account someone else registered
 * with that address does not keep their password). Uses DATABASE_URL like the service (migrating
 * first if needed), and REDIS_URL to end the account's earlier sessions in every ingress at once
 * (without Redis they end in MySQL, and the ingresses follow within ACCESS_TOKEN_TTL_MS).
 */
import { loadConfig } from '../config'
import { createDb, migrateLatest } from '../db/knex'
import { setAdmin, usersRepository } from '../identity'
import { createRedisClient } from '../redis/client'
import { createKeySpace } from '../redis/keys'
import { publishGeneration } from '../identity'

async function main (): Promise<void> {
  const [email, password] = process.argv.slice(2)
  if (email === undefined || password === undefined || password.length < 8 || !email.includes('@')) {
    process.stderr.write('usage: npm run create-admin -- <email> <password of 8+ characters>\n')
    process.exit(2)
  }
  const config = loadConfig()
  await migrateLatest(config.databaseUrl)
  const db = createDb(config.databaseUrl, { poolMax: 1 })
  // Fails fast when Redis is away: the change is still made in MySQL.
  const redis = createRedisClient({ url: config.redisUrl, clusterNodes: config.redisClusterNodes }, { name: 'create-admin', maxRetriesPerRequest: 1 })
  redis.on('error', () => {})
  const sessions = { redis, keys: createKeySpace(config.redisPrefix), ttlMs: config.accessTokenTtlMs }
  try {
    const { user, created, generation } = await setAdmin({ users: usersRepository(db) }, email, password)
    if (generation !== undefined) {
      try {
        await publishGeneration(sessions, user.id, generation)
      } catch (err) {
        process.stderr.write(`create-admin: Redis did not answer (${err instanceof Error ? err.message : String(err)}); ` +
          `the account's earlier sign-ins are void in MySQL, and every ingress refuses them within ${Math.round(config.accessTokenTtlMs / 1000)} s\n`)
      }
    }
    process.stdout.write(created
      ? `admin ${user.email} (id ${user.id}) created with the password given\n`
      : `existing account ${user.email} (id ${user.id}) is now admin; its password was set to the one given and its earlier sign-ins ended\n`)
  } finally {
    redis.disconnect()
    await db.destroy()
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`create-admin failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
