/**
 * Starting the service as a newcomer does (`node dist/src/server.js`, as `npm start` runs it):
 * a missing dependency or a taken port is named -- what, where, which variable -- within 5 s,
 * the process exits 3, and nothing else is printed (no client retry warnings, no unhandled error
 * events, no stack). A start that works prints where the pages, the docs and the metrics are.
 */
import t from 'tap'
import { createConnection } from 'mysql2/promise'
import { testEnv } from '../helpers/env'
import { freePort, spawnService, whenReady, within } from '../helpers/processes'
import { takenPort } from '../helpers/ports'
import { parseDatabaseUrl, withDatabase } from '../../src/db/knex'
import type { TestEnv } from '../helpers/env'
import type { Test } from '../helpers/tap-types'

/** Starts the service with `extra` settings and waits for it to end; its exit code, output and time. */
async function failedStart (env: TestEnv, extra: Record<string, string>): Promise<{ code: string, output: string, ms: number }> {
  const started = Date.now()
  const proc = spawnService(env, { NODE_ENV: 'development', LOG_LEVEL: 'info', METRICS_PORT: '0', ...extra })
  const code = await within(20_000, proc.exited, 'the failing start')
  return { code, output: proc.output(), ms: Date.now() - started }
}

function quiet (t: Test, output: string): void {
  t.notMatch(output, /Unhandled error event/, 'no unhandled error events')
  t.notMatch(output, /MaxRetriesPerRequestError|\n\s+at /, 'no client error or stack')
  t.ok(output.trim().split('\n').length <= 3, `a line or two, not a pile of warnings:\n${output}`)
}

async function databaseExists (url: string): Promise<boolean> {
  const target = parseDatabaseUrl(url)
  const conn = await createConnection({ host: target.host, port: target.port, user: target.user, password: target.password })
  try {
    const [rows] = await conn.query('SHOW DATABASES LIKE ?', [target.database])
    return (rows as unknown[]).length > 0
  } finally {
    await conn.end()
  }
}

t.test('Redis unreachable: named with its address and REDIS_URL, exit 3, within 5 s', async (t) => {
  const env = await testEnv(t)
  const port = await freePort()
  const { code, output, ms } = await failedStart(env, { REDIS_URL: `redis://127.0.0.1:${port}` })
  t.equal(code, '3', 'exits 3')
  t.match(output, `seckill cannot start: Redis at 127.0.0.1:${port} is unreachable (REDIS_URL)`)
  t.ok(ms < 5000, `said within 5 s (took ${ms} ms)`)
  quiet(t, output)
})

t.test('MySQL unreachable: named with its address and DATABASE_URL, exit 3, within 5 s', async (t) => {
  const env = await testEnv(t)
  const port = await freePort()
  const { code, output, ms } = await failedStart(env, { DATABASE_URL: `mysql://root:not-printed@127.0.0.1:${port}/seckill` })
  t.equal(code, '3', 'exits 3')
  t.match(output, `seckill cannot start: MySQL at 127.0.0.1:${port} is unreachable (DATABASE_URL)`)
  t.notMatch(output, 'not-printed', 'the password is not printed')
  t.ok(ms < 5000, `said within 5 s (took ${ms} ms)`)
  quiet(t, output)
})

t.test('MySQL refusing the user: named as such, the password not printed', async (t) => {
  const env = await testEnv(t)
  const target = parseDatabaseUrl(env.config.databaseUrl)
  const url = new URL(env.config.databaseUrl)
  url.username = 'nobody_here'
  url.password = 'not-printed'
  const { code, output } = await failedStart(env, { DATABASE_URL: url.toString() })
  t.equal(code, '3', 'exits 3')
  t.match(output, `MySQL at ${target.host}:${target.port} refused user "nobody_here" (DATABASE_URL)`)
  t.notMatch(output, 'not-printed', 'the password is not printed')
  quiet(t, output)
})

t.test('a taken port is found before migrating and starting the worker', async (t) => {
  const env = await testEnv(t)
  const port = await takenPort(t)
  // A database that does not exist yet: migrating would create it.
  const databaseUrl = withDatabase(env.config.databaseUrl, `${parseDatabaseUrl(env.config.databaseUrl).database}_unmade`)
  const { code, output } = await failedStart(env, { PORT: String(port), DATABASE_URL: databaseUrl })
  t.equal(code, '3', 'exits 3')
  t.match(output, `Port ${port} on 127.0.0.1 is taken by another process (PORT)`)
  t.notOk(await databaseExists(databaseUrl), 'no migration ran')
  t.equal(await env.redis.zcard(env.keys.workers), 0, 'no worker registered')
  quiet(t, output)
})

t.test('several problems at once are named together', async (t) => {
  const env = await testEnv(t)
  const [redisPort, mysqlPort] = [await freePort(), await freePort()]
  const { code, output } = await failedStart(env, { REDIS_URL: `redis://127.0.0.1:${redisPort}`, DATABASE_URL: `mysql://root@127.0.0.1:${mysqlPort}/seckill` })
  t.equal(code, '3')
  t.match(output, `Redis at 127.0.0.1:${redisPort} is unreachable (REDIS_URL)`)
  t.match(output, `MySQL at 127.0.0.1:${mysqlPort} is unreachable (DATABASE_URL)`)
})

t.test('a start that works says where the pages, the docs and the metrics are', async (t) => {
  const env = await testEnv(t)
  const metricsPort = await freePort()
  const proc = spawnService(env, { NODE_ENV: 'development', PORT: '0', METRICS_PORT: String(metricsPort) })
  // PORT 0: the banner carries the port the OS gave; wait for it, then for readiness there.
  const banner = await within(60_000, (async () => {
    for (;;) {
      const m = /Buyer page\s+(http:\/\/\S+)\//.exec(proc.output())
      if (m !== null) return m[1] as string
      if (proc.child.exitCode !== null) throw new Error(`exited:\n${proc.output()}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  })(), 'the banner')
  await whenReady(proc, banner)
  const out = proc.output()
  t.match(out, /seckill is ready \(ingress and worker in one process, pid \d+\)/)
  t.match(out, `Operator page  ${banner}/ops`)
  t.match(out, `API docs       ${banner}/docs`)
  t.match(out, `Metrics        http://127.0.0.1:${metricsPort}/metrics`)
  t.match(out, 'npm run create-admin')
  t.equal((await fetch(`${banner}/`)).status, 200, 'the buyer page answers where the banner says')
  t.equal((await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).status, 200, 'so do the metrics')
  t.equal(await proc.stop(), '0', 'SIGTERM: a clean stop')
})
