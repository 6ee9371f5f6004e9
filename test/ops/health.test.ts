import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { loadConfig } from '../../src/config'
import { createLogger } from '../../src/logger'
import { startService } from '../../src/server'
import { testEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'
import { freePort, takenPort } from '../helpers/ports'

t.test('health: alive and ready; while shutting down, not ready but still answering', async (t) => {
  const env = await testEnv(t)
  const { service, http } = await startTestService(env, loadConfig({ ...env.env, SHUTDOWN_DRAIN_MS: '3000' }))
  t.same((await http.request('GET', '/healthz')).body, { status: 'ok' })
  t.same((await http.request('GET', '/readyz')).body, { status: 'ready' })
  const closing = service.ingress?.close()
  const ready = await http.request('GET', '/readyz')
  t.equal(ready.status, 503, 'not ready while draining')
  t.equal(ready.body.code, 'SHUTTING_DOWN')
  const alive = await http.request('GET', '/healthz')
  t.equal(alive.status, 200, 'still alive')
  t.equal(alive.headers.get('connection'), 'close', 'and telling clients to reconnect elsewhere')
  await closing
})

t.test('a start that fails part-way (metrics port taken) stops what it started: no drain left running', async (t) => {
  const env = await testEnv(t)
  const port = await takenPort(t)
  const config = loadConfig({ ...env.env, PROCESS_ROLE: 'worker', METRICS_PORT: String(port) })
  await t.rejects(startService(config, createLogger('silent', 'test')), { code: 'EADDRINUSE' }, 'the start fails')
  await sleep(500) // several discovery rounds (DISCOVERY_MS 100) of a drain that would still run
  t.equal(await env.redis.zcard(env.keys.workers), 0, 'no worker left registered or heartbeating')
})

t.test('a stopping ingress answers its waiting long-polls at once instead of holding its stop for their wait', async (t) => {
  const env = await testEnv(t, { SHUTDOWN_DRAIN_MS: '10000' })
  // Ingress only: nothing drains, so the ticket stays queued and its long-poll would wait 25 s.
  const { service, http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress', SHUTDOWN_DRAIN_MS: '10000' }))
  const eventId = await createSale(http, env, { stock: 2 })
  const ticket = (await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(601) })).body.data.ticket_id as string
  let answeredAt = 0
  const poll = http.request('GET', `/api/v1/tickets/${ticket}?wait=25000`, { token: env.token(601) }).then((r) => { answeredAt = Date.now(); return r })
  await until(async () => service.ingress?.bus.waiting === 1, 10_000, 'the long-poll to wait')
  const stopAt = Date.now()
  const stopping = service.ingress?.close()
  const answer = await poll
  t.equal(answer.status, 200, 'the waiting poll is answered')
  t.equal(answer.body.data.status, 'queued', 'with the ticket as it is')
  t.equal(answer.headers.get('connection'), 'close', 'telling the client to go')
  // Without the release it would be answered only when the drain gives up (SHUTDOWN_DRAIN_MS, 10 s).
  t.ok(answeredAt - stopAt < 5000, `answered when the stop began, not after the drain or its wait (${answeredAt - stopAt} ms)`)
  const again = await http.request('GET', `/api/v1/tickets/${ticket}?wait=25000`, { token: env.token(601) }).catch(() => undefined)
  if (again !== undefined) t.equal(again.body.data?.status, 'queued', 'a poll arriving during the stop is answered at once too')
  await stopping
})

t.test('a worker answers the probes on its metrics listener: alive and ready, not ready once stopping', async (t) => {
  const env = await testEnv(t)
  const port = await freePort()
  const { service } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'worker', METRICS_PORT: String(port) }))
  const probe = async (path: string): Promise<{ status: number, body: unknown }> => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`)
    return { status: r.status, body: await r.json() }
  }
  t.same(await probe('/healthz'), { status: 200, body: { status: 'ok' } })
  t.same(await probe('/readyz'), { status: 200, body: { status: 'ready' } })
  const stopping = service.stop()
  // The listener closes last, after the drain has stopped: it says so meanwhile.
  t.equal((await probe('/readyz')).status, 503, 'not ready once stopping')
  await stopping
})

t.test('a metrics client that never finishes its request does not hold the worker\'s shutdown', async (t) => {
  const { connect } = await import('node:net')
  const { spawnService } = await import('../helpers/processes')
  const env = await testEnv(t)
  const metricsPort = await freePort()
  // A short shutdown bound: a held shutdown ends in its timeout and exit status 1.
  const worker = spawnService(env, { PROCESS_ROLE: 'worker', METRICS_PORT: String(metricsPort), SHUTDOWN_TIMEOUT_MS: '3000' })
  await until(async () => await fetch(`http://127.0.0.1:${metricsPort}/readyz`).then(async (r) => { await r.arrayBuffer(); return r.ok }, () => false), 60_000, 'the worker ready')
  const stalled = connect(metricsPort, '127.0.0.1')
  await new Promise<void>((resolve) => stalled.once('connect', () => resolve()))
  stalled.write('GET /metrics HTTP/1.1\r\nHost: scraper\r\n') // headers never finished
  t.teardown(() => { stalled.destroy() })
  t.equal(await worker.stop(), '0', 'stops cleanly, the stalled connection cut')
})

t.test('a worker is started (and ready) only once every drain thread is warm: no shard taken before', async (t) => {
  const env = await testEnv(t)
  const { service } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'worker', WORKER_THREADS: '3', PORT: '0' }))
  t.equal(service.dispatcher?.warmThreads, 3, 'three distinct threads warmed before the start resolved')
  t.equal(service.dispatcher?.pool.threads.length, 3)
})
