// Regression (issue: lockout of someone else's account). Eleven wrong logins from one address kept
// the owner, signing in correctly from another address, on 429. Against a spawned service, with
// two loopback addresses as the two clients.
import t from 'tap'
import { request as rawRequest } from 'node:http'
import { testEnv } from '../helpers/env'
import { freePort, spawnService, whenReady } from '../helpers/processes'

async function login (port: number, from: string, email: string, password: string): Promise<number> {
  const body = JSON.stringify({ email, password })
  return await new Promise((resolve, reject) => {
    const req = rawRequest({ host: '127.0.0.1', port, path: '/api/v1/auth/login', method: 'POST', localAddress: from, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end(body)
  })
}

t.test('an attacker at one address cannot lock the owner out; guessing from many addresses slows down', async (t) => {
  const env = await testEnv(t)
  const port = await freePort()
  const service = spawnService(env, { PORT: String(port), HOST: '0.0.0.0', RATE_LIMIT_LOGIN: '10', RATE_LIMIT_WINDOW_MS: '60000' })
  await whenReady(service, `http://127.0.0.1:${port}`)
  const reg = await fetch(`http://127.0.0.1:${port}/api/v1/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'owner@example.com', password: 'the owner long password' }) })
  t.equal(reg.status, 201)

  const attacker: number[] = []
  for (let i = 0; i < 11; i++) attacker.push(await login(port, '127.0.0.2', 'owner@example.com', `wrong guess number ${i}`))
  t.same(attacker.slice(0, 10), new Array(10).fill(401), 'ten wrong guesses: 401')
  t.equal(attacker[10], 429, 'the eleventh from the same address: 429')
  t.equal(await login(port, '127.0.0.1', 'owner@example.com', 'the owner long password'), 200, 'the owner signs in from another address')

  // Guessing on from fresh addresses: each attempt past the limit waits longer.
  const started = Date.now()
  for (let i = 0; i < 4; i++) t.equal(await login(port, `127.0.0.${10 + i}`, 'owner@example.com', `another wrong guess ${i}`), 401)
  const took = Date.now() - started
  t.ok(took >= 250 + 500 + 1000, `four more guesses from four addresses took ${took} ms (slowed down: 250, 500, 1000 ms ...)`)
  t.equal(await service.stop(), '0')
})
