import t from 'tap'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { startTestService } from '../helpers/sale'

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
