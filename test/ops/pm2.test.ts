import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { auditSale } from '../../src/sale/invariant-audit'
import { repoPath } from '../../src/util/paths'
import { testEnv } from '../helpers/env'
import { createSale, httpClient, pool, saleIdle, until } from '../helpers/sale'
import { parsePrometheus, sum } from '../helpers/prometheus'
import type { Sample } from '../helpers/prometheus'

const run = promisify(execFile)

t.test('under PM2: ingress x2 and worker x2, workers scaled up and down mid-sale, ingress reloaded, nothing lost', async (t) => {
  const env = await testEnv(t)
  const home = mkdtempSync(join(tmpdir(), 'sk-pm2-'))
  // PM2 numbers each instance's metrics port from a base, so this test needs a block of ports: it
  // takes them below the OS's ephemeral range (32768+), where other tests' OS-chosen ports land.
  const port = 12000 + Math.floor(Math.random() * 16000)
  const pm2Env = {
    ...env.env,
    PATH: process.env.PATH ?? '',
    HOME: home,
    PM2_HOME: home,
    PORT: String(port),
    INGRESS_INSTANCES: '2',
    WORKER_INSTANCES: '2',
    WORKER_METRICS_PORT: String(port + 100),
    INGRESS_METRICS_PORT: String(port + 200),
    WORKER_THREADS: '1',
    SHUTDOWN_DRAIN_MS: '5000'
  }
  const pm2 = async (...args: string[]): Promise<string> =>
    (await run(process.execPath, [repoPath('node_modules', 'pm2', 'bin', 'pm2'), ...args], { env: pm2Env, cwd: repoPath() })).stdout
  env.defer(async () => {
    await pm2('kill').catch(() => undefined)
    rmSync(home, { recursive: true, force: true })
  })

  await pm2('start', repoPath('ecosystem.config.js'))
  const http = httpClient(`http://127.0.0.1:${port}`)
  await until(async () => (await http.request('GET', '/readyz').catch(() => ({ status: 0 }))).status === 200, 60_000, 'the ingress under PM2')
  const list = JSON.parse(await pm2('jlist')) as Array<{ name: string, pm2_env: { status: string, exec_mode: string } }>
  t.same(list.map((p) => `${p.name}:${p.pm2_env.exec_mode}:${p.pm2_env.status}`).sort(),
    ['ingress:cluster_mode:online', 'ingress:cluster_mode:online', 'worker:fork_mode:online', 'worker:fork_mode:online'])

  const STOCK = 300
  const SHARDS = 4
  const eventId = await createSale(http, env, { stock: STOCK, shards: SHARDS })
  const users = Array.from({ length: 3000 }, (_, i) => String(80_000 + i))
  const crowd = pool(users, 50, async (u) => await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) }))
  await sleep(300)
  await pm2('scale', 'worker', '3')
  await sleep(1500)
  await pm2('scale', 'worker', '1')
  const first = await crowd
  t.ok(first.every((r) => r.status === 200 || r.status === 202), 'every buyer answered 200 or 202 while workers came and went')
  await until(async () => await saleIdle(env, eventId, SHARDS), 90_000, 'the remaining worker to finish the sale')
  const audit = await auditSale(env.db, env.redis, env.keys, eventId)
  for (const c of audit.checks) t.ok(c.ok, `${c.id}: ${c.detail}`)
  t.equal(audit.liveOrders, STOCK)

  // Every PM2 process has its own metrics port; each parses, and the worker counted the orders.
  // A scrape is retried while its instance is online (a CI run once saw one refused; the cause was
  // not printed): each failure is kept with its cause and whether the port was listening, and a
  // scrape that never succeeds within 20 s fails with them, PM2's view of every process and the
  // instances' last error lines.
  const listening = (p: number): boolean => {
    const hex = p.toString(16).toUpperCase().padStart(4, '0')
    return ['/proc/net/tcp', '/proc/net/tcp6'].some((f) => {
      try {
        return readFileSync(f, 'utf8').split('\n').some((l) => l.trim().split(/\s+/)[1]?.endsWith(`:${hex}`) === true && l.trim().split(/\s+/)[3] === '0A')
      } catch { return false }
    })
  }
  const scrape = async (p: number): Promise<Sample[]> => {
    const failures: string[] = []
    const deadline = Date.now() + 20_000
    while (true) {
      try {
        const samples = parsePrometheus(String((await httpClient(`http://127.0.0.1:${p}`).request('GET', '/metrics')).body))
        if (failures.length > 0) t.comment(`scrape of ${p} succeeded after ${failures.length} failure(s): ${failures.join('; ')}`)
        return samples
      } catch (err) {
        const cause = err instanceof Error && err.cause !== undefined ? ` (${String(err.cause)})` : ''
        failures.push(`${String(err)}${cause}, port ${listening(p) ? 'listening' : 'not listening'}`)
        if (Date.now() < deadline) { await sleep(250); continue }
        const states = (JSON.parse(await pm2('jlist')) as Array<{ name: string, pm_id: number, pm2_env: { status: string, restart_time: number, METRICS_PORT?: number } }>)
          .map((x) => `${x.name}#${x.pm_id} ${x.pm2_env.status} restarts=${x.pm2_env.restart_time} metrics=${x.pm2_env.METRICS_PORT ?? '?'}`)
        const logs = readdirSync(join(home, 'logs'))
          .map((f) => `${f}:\n${readFileSync(join(home, 'logs', f), 'utf8').split('\n').slice(-15).join('\n')}`)
        throw new Error(`scrape of ${p} failed ${failures.length} times (first: ${failures[0] ?? ''}; last: ${failures.at(-1) ?? ''}); PM2: ${states.join('; ')}\n${logs.join('\n')}`)
      }
    }
  }
  const ingressMetrics = await Promise.all([port + 200, port + 201].map(scrape))
  t.equal(ingressMetrics.length, 2, 'both ingress instances scraped')
  t.equal(ingressMetrics.reduce((n, m) => n + sum(m, 'seckill_buy_requests_total'), 0), users.length, 'their buy counters add up to the crowd')
  const jlist = JSON.parse(await pm2('jlist')) as Array<{ name: string, pm2_env: { METRICS_PORT?: string | number } }>
  const workerPorts = jlist.filter((p) => p.name === 'worker').map((p) => Number(p.pm2_env.METRICS_PORT))
  t.equal(workerPorts.length, 1, 'one worker left')
  for (const p of workerPorts) t.ok((await scrape(p)).some((s) => s.name === 'seckill_drain_batch_size_count'), `worker metrics on ${p}`)

  // Reload the ingress while buyers keep asking: every request is answered.
  let stop = false
  const statuses: number[] = []
  let changedTickets = 0
  const traffic = Promise.all(Array.from({ length: 10 }, async (_, c) => {
    let i = 0
    while (!stop) {
      const n = (c * 300 + i++) % users.length
      const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(users[n] as string) }).catch(() => ({ status: 0, body: undefined }))
      statuses.push(r.status)
      if (r.status === 200 && r.body?.data?.ticket_id !== first[n]?.body.data.ticket_id) changedTickets++
    }
  }))
  await pm2('reload', 'ingress')
  await sleep(500)
  stop = true
  await traffic
  t.ok(statuses.length > 100, `${statuses.length} requests during the reload`)
  t.same([...new Set(statuses)], [200], 'all answered 200 (their tickets), none dropped')
  t.equal(changedTickets, 0, 'I7: every resubmit returned the buyer\'s original ticket')
})
