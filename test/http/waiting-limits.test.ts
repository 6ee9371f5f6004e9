// Bounded waiting: each waiting long-poll holds a socket and a file descriptor, so one buyer may
// hold only a few, one ingress only MAX_WAITING (503 and Retry-After past it, before the
// descriptor limit), and a client that sends its request slowly is cut within seconds.
import t from 'tap'
import { connect } from 'node:net'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { createSale, startTestService } from '../helpers/sale'
import { freePort } from '../helpers/ports'

t.test('a buyer\'s long-polls past its share are answered at once; past the ingress\'s cap, 503 with Retry-After', async (t) => {
  // Ingress only: nothing drains, so the tickets stay queued and long-polls wait their full time.
  const env = await testEnv(t, { POLLS_PER_BUYER: '2', MAX_WAITING: '3', GATE_OVERBOOK: '10' })
  const metricsPort = await freePort()
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress', METRICS_PORT: String(metricsPort) }))
  const metrics = `http://127.0.0.1:${metricsPort}`
  const eventId = await createSale(http, env, { stock: 5 })
  const ticketOf = async (user: number): Promise<string> => (await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(user) })).body.data.ticket_id as string
  const [a, b, c] = [await ticketOf(901), await ticketOf(902), await ticketOf(903)]
  const poll = async (user: number, id: string): Promise<{ status: number, body: any, headers: Headers }> => await http.request('GET', `/api/v1/tickets/${id}?wait=20000`, { token: env.token(user) })

  let settled = 0
  const held = [poll(901, a), poll(901, a)].map(async (p) => await p.finally(() => { settled++ }))
  await waitUntil(async () => (await waiting(metrics)) === 2)
  const extra = await poll(901, a)
  t.equal(extra.status, 200, 'the buyer\'s third long-poll is answered')
  t.equal(extra.body.data.status, 'queued', 'at once, with the ticket as it is')
  t.equal(settled, 0, 'while its first two still wait')

  const third = poll(902, b)
  await waitUntil(async () => (await waiting(metrics)) === 3)
  const refused = await poll(903, c)
  t.equal(refused.status, 503, 'past the ingress\'s cap a poll of a queued ticket is refused')
  t.equal(refused.body.code, 'TOO_MANY_WAITING')
  t.equal(refused.headers.get('retry-after'), '1', 'with Retry-After')
  t.equal((await http.request('GET', `/api/v1/tickets/${c}`, { token: env.token(903) })).status, 200, 'a poll without wait is still answered')

  // The waits end when their tickets are decided (the drain's outcome message).
  const positions = [a, b].map((id) => id.split('-')[2]).join('=sold_out,')
  await env.redis.publish(env.keys.outcomeChannel, `e${eventId}.0:${positions}=sold_out`)
  const ended = await Promise.all([...held, third])
  t.same(ended.map((r) => r.body.data.status), ['sold_out', 'sold_out', 'sold_out'], 'the waiting polls are answered when their tickets are decided')
  await waitUntil(async () => (await waiting(metrics)) === 0)
})

t.test('a client that sends its request headers a byte at a time is cut within seconds', async (t) => {
  const env = await testEnv(t, { HEADERS_TIMEOUT_MS: '1000', REQUEST_TIMEOUT_MS: '2000' })
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const url = new URL(http.base)
  const socket = connect(Number(url.port), url.hostname)
  const started = Date.now()
  const closed = new Promise<number>((resolve) => { socket.on('close', () => resolve(Date.now() - started)) })
  socket.on('error', () => undefined)
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n')
  const drip = setInterval(() => { if (!socket.destroyed) socket.write('X') }, 200)
  const cut = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(-1), 20_000))])
  clearInterval(drip)
  socket.destroy()
  t.ok(cut > 0, `the server closed the connection (after ${cut} ms; headers were due in 1 s, checked every second)`)
})

/** The ingress's waiting long-polls, from its metrics. */
async function waiting (base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text().catch(() => '')
  return Number(/seckill_long_polls_waiting\{[^}]*state="waiting"[^}]*\} (\d+)/.exec(text)?.[1] ?? -1)
}

async function waitUntil (check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!await check()) {
    if (Date.now() > deadline) throw new Error('state not reached')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
