import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { loadConfig } from '../../src/config'
import { createLogger } from '../../src/logger'
import { startService } from '../../src/server'
import { testEnv } from '../helpers/env'
import { startTestService } from '../helpers/sale'
import { takenPort } from '../helpers/ports'

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
