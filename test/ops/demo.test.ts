/**
 * `npm run demo` against a running service, as a newcomer runs it: a sale is made, the pages to
 * open are printed with a working operator sign-in, and the crowd's sale ends exact.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { testEnv } from '../helpers/env'
import { startTestService } from '../helpers/sale'
import { freePort } from '../helpers/ports'
import { repoPath } from '../../src/util/paths'
import type { TestEnv } from '../helpers/env'

async function demo (env: TestEnv, args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    execFile(process.execPath, [repoPath('dist', 'src', 'cli', 'demo.js'), ...args], { env: { PATH: process.env.PATH ?? '', ...env.env }, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: number }).code ?? 1), stdout, stderr })
    })
  })
}

t.test('demo: a sale starting soon, the pages printed, a crowd that buys exactly the stock', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const { code, stdout, stderr } = await demo(env, ['--url', http.base, '--in', '2', '--stock', '5', '--crowd', '30'])
  t.equal(code, 0, stderr)
  const eventId = Number(/^Sale (\d+) "Demo drop": 5 units/m.exec(stdout)?.[1])
  t.ok(eventId > 0, stdout)
  t.match(stdout, `Buyer page     ${http.base}/#/events/${eventId}`)
  t.match(stdout, `Operator page  ${http.base}/ops`)
  t.match(stdout, 'outcome: 5 won, 25 sold out')
  const [{ n }] = await env.db('orders').where({ event_id: eventId }).count({ n: '*' }) as Array<{ n: number }>
  t.equal(Number(n), 5, 'five orders in MySQL')
  // The printed operator sign-in works.
  const password = /demo-admin@example\.com, password (\S+)\)/.exec(stdout)?.[1]
  const login = await http.request('POST', '/api/v1/auth/login', { body: { email: 'demo-admin@example.com', password } })
  t.equal(login.status, 200, 'the printed password signs the operator in')
})

t.test('demo: bad options and no service are said plainly, exit 2, nothing made', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const bad = await demo(env, ['--url', http.base, '--stock', '0'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, '--stock must be a whole number from 1 to 100000')
  const none = await demo(env, ['--url', `http://127.0.0.1:${await freePort()}`])
  t.equal(none.code, 2)
  t.match(none.stderr, 'no ready service answers at')
  t.equal((await env.db('seckill_events').count({ n: '*' }) as Array<{ n: number }>)[0]?.n, 0, 'no sale made')
})
