/**
 * `npm run reconcile`: compares Redis with MySQL for every live event (on, upcoming within a
 * minute, or ended within a week), repairs Redis from MySQL where the event is at rest, and prints
 * one JSON line per event saying what it changed. Exit status 0; 1 on an error.
 */
import { loadConfig } from '../config'
import { createDb, migrateLatest } from '../db/knex'
import { eventsRepository } from '../catalog'
import { changedAnything, reconcileEvent } from '../stock'
import { createRedisClient } from '../redis/client'
import { createKeySpace } from '../redis/keys'

async function main (): Promise<void> {
  const config = loadConfig()
  await migrateLatest(config.databaseUrl)
  const db = createDb(config.databaseUrl, { poolMax: 2 })
  const redis = createRedisClient({ url: config.redisUrl, clusterNodes: config.redisClusterNodes }, { name: 'reconcile' })
  try {
    const events = eventsRepository(db)
    const deps = { redis, db, keys: createKeySpace(config.redisPrefix), events }
    let changed = 0
    for (const event of await events.listLive(new Date(), 60_000, 7 * 86_400_000)) {
      const report = await reconcileEvent(deps, event)
      if (changedAnything(report)) changed++
      process.stdout.write(`${JSON.stringify({ ...report, changed: changedAnything(report) })}\n`)
    }
    process.stdout.write(`${JSON.stringify({ done: true, eventsChanged: changed })}\n`)
  } finally {
    redis.disconnect()
    await db.destroy()
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`reconcile failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
