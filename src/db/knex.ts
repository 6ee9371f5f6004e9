import knexFactory from 'knex'
import type { Knex } from 'knex'
import { createConnection } from 'mysql2/promise'
import { repoPath } from '../util/paths'

export type Db = Knex

export interface MysqlTarget {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly password: string
  readonly database: string
}

const DB_NAME = /^[A-Za-z0-9_]{1,64}$/

export function parseDatabaseUrl (url: string): MysqlTarget {
  const u = new URL(url)
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''))
  if (!DB_NAME.test(database)) throw new Error(`DATABASE_URL: database name ${JSON.stringify(database)} must match ${DB_NAME}`)
  return {
    host: u.hostname,
    port: u.port === '' ? 3306 : Number(u.port),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database
  }
}

export function withDatabase (url: string, database: string): string {
  const u = new URL(url)
  u.pathname = `/${database}`
  return u.toString()
}

/** Creates the database named by the URL when it does not exist yet. */
export async function ensureDatabase (url: string): Promise<void> {
  const t = parseDatabaseUrl(url)
  const conn = await createConnection({ host: t.host, port: t.port, user: t.user, password: t.password })
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${t.database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
  } finally {
    await conn.end()
  }
}

export async function dropDatabase (url: string): Promise<void> {
  const t = parseDatabaseUrl(url)
  const conn = await createConnection({ host: t.host, port: t.port, user: t.user, password: t.password })
  try {
    await conn.query(`DROP DATABASE IF EXISTS \`${t.database}\``)
  } finally {
    await conn.end()
  }
}

export interface DbOptions {
  readonly poolMax?: number
  /**
   * Several statements in one query (one round trip). Only the drain threads ask for it, for
   * their order write (src/orders/order-write.ts writeOrdersAtOnce), whose values are all numbers or
   * ids checked against their patterns; every other query is parameterized either way.
   */
  readonly multipleStatements?: boolean
}

export function createDb (url: string, opts: DbOptions = {}): Db {
  const t = parseDatabaseUrl(url)
  return knexFactory({
    client: 'mysql2',
    connection: {
      host: t.host,
      port: t.port,
      user: t.user,
      password: t.password,
      database: t.database,
      timezone: 'Z',
      dateStrings: false,
      supportBigNumbers: true,
      charset: 'utf8mb4',
      multipleStatements: opts.multipleStatements === true
    },
    pool: {
      min: 0,
      max: opts.poolMax ?? 10,
      afterCreate (conn: { query: (sql: string, cb: (err: Error | null) => void) => void }, done: (err: Error | null, c: unknown) => void) {
        conn.query("SET time_zone = '+00:00'", (err) => done(err, conn))
      }
    },
    migrations: {
      directory: repoPath('dist', 'migrations'),
      loadExtensions: ['.js'],
      tableName: 'knex_migrations'
    }
  })
}

/**
 * Creates the database if needed and applies every pending migration. Several processes starting
 * together (PM2) take turns: one migrates, the others wait for Knex's migration lock.
 */
export async function migrateLatest (url: string, waitMs = 60_000): Promise<void> {
  await ensureDatabase(url)
  const db = createDb(url, { poolMax: 1 })
  const deadline = Date.now() + waitMs
  try {
    for (;;) {
      try {
        await db.migrate.latest()
        return
      } catch (err) {
        if ((err as Error).name !== 'MigrationLocked' || Date.now() > deadline) throw err
        await new Promise((resolve) => setTimeout(resolve, 250))
      }
    }
  } finally {
    await db.destroy()
  }
}
