/**
 * Issue 32, the waiting room's progress as a buyer in a moving line sees it, in Chromium: the
 * progress bar (`#line-progress`) fills as the places ahead are decided; "Updated N s ago" counts
 * up between the page's polls and goes back to 0 s each time the service answers; and the wait
 * estimate, with the line moving at a steady pace, counts down with the clock: it neither rises
 * nor jumps (src/web/line-watch.ts `steady`).
 *
 * The pace is made steady by the worker's MySQL round trips: the worker reaches MySQL through a
 * proxy that holds every answer back a few milliseconds, and the drain takes a few tickets a
 * batch, one batch at a time, so the line moves for several of the page's 2 s polls, in steps.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import type { Socket } from 'node:net'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, pool, startTestService, until } from '../helpers/sale'
import { CHROMIUM, launchBrowser, signUp } from '../helpers/browser'

/** A TCP proxy to MySQL that delivers every answer `delayMs` late, in order. */
async function slowProxy (env: TestEnv, host: string, port: number, delayMs: number): Promise<number> {
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(port, host)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => { client.destroy(); upstream.destroy() })
    }
    client.pipe(upstream)
    upstream.on('data', (chunk: Buffer) => { setTimeout(() => { if (!client.destroyed) client.write(chunk) }, delayMs) })
    upstream.on('end', () => { setTimeout(() => client.end(), delayMs) })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  env.defer(async () => {
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  return (server.address() as { port: number }).port
}

/** Read in the page: the ticket's heading, the bar, the place, the estimate and its age. */
const READ = `(() => {
  const bar = document.getElementById('line-progress')
  const text = (id) => document.getElementById(id)?.textContent ?? ''
  return {
    status: text('ticket-status'),
    bar: bar === null ? undefined : { value: Number(bar.getAttribute('value')), max: Number(bar.getAttribute('max')) },
    place: text('place'),
    eta: text('eta'),
    updated: text('updated')
  }
})()`
interface Read { status: string, bar?: { value: number, max: number }, place: string, eta: string, updated: string }

interface Seen { at: number, place: number, value: number, max: number, eta: string, updated: string }

/** "about 35 s" / "about 2 min" in seconds; undefined for any other text. */
function etaSeconds (text: string): number | undefined {
  const m = /^Expected answer in about (\d+) (s|min)\.$/.exec(text)
  if (m === null) return undefined
  return Number(m[1]) * (m[2] === 'min' ? 60 : 1)
}

t.test('in a moving line: the progress bar fills, "Updated N s ago" counts and resets, the estimate counts down without rising or jumping', async (t) => {
  if (!existsSync(CHROMIUM)) { t.fail(`Chromium at ${CHROMIUM}`); return }
  const env = await testEnv(t, { DRAIN_BATCH: '2', DRAIN_PIPELINE: '1' })
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(http, env, { stock: 500 })
  const db = new URL(env.config.databaseUrl)
  const slow = new URL(env.config.databaseUrl)
  slow.host = `127.0.0.1:${await slowProxy(env, db.hostname, Number(db.port === '' ? 3306 : db.port), 50)}`
  await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'worker', METRICS_PORT: '0', DATABASE_URL: slow.toString() }))

  const browser = await launchBrowser(env)
  const page = await (await browser.newContext({ locale: 'en-US' })).newPage()
  await page.goto(`${http.base}/#/events/${eventId}`)
  await signUp(page, `progress-${env.id}@example.com`)
  await page.waitForSelector('#buy:not([disabled])')

  // A crowd arrives at once; the drain takes it at its pace; once the line has been moving for a
  // while (the drain has measured its pace), the buyer joins at the back.
  const ahead = 100
  await pool(Array.from({ length: ahead }, (_, i) => 730_000 + i), 30, async (user) => {
    const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(user) })
    if (r.status !== 202) throw new Error(`buy ${user}: ${r.status}`)
  })
  const decided = async (): Promise<number> => {
    const s = await http.request('GET', `/api/v1/admin/events/${eventId}/stats`, { token: env.token(1, 'admin') })
    return (s.body.data.shards as Array<{ decided: number }>).reduce((a, x) => a + x.decided, 0)
  }
  await until(async () => await decided() >= 30, 30_000, 'the line to be moving')
  await page.click('#buy')
  await page.waitForSelector('#line-progress')

  // What the buyer sees, read every 100 ms until the answer.
  const seen: Seen[] = []
  await until(async () => {
    const s = await page.evaluate<Read>(READ)
    if (s.status.includes('You won!')) return true
    const place = /^Place in line: ([\d,]+)$/.exec(s.place)
    if (s.bar !== undefined && place !== null) {
      seen.push({ at: Date.now(), place: Number((place[1] as string).replace(/,/g, '')), value: s.bar.value, max: s.bar.max, eta: s.eta, updated: s.updated })
    }
    return false
  }, 90_000, 'the buyer\'s answer')
  const places = [...new Set(seen.map((s) => s.place))]
  t.ok(places.length >= 4, `the place moved while the page watched: ${places.join(' → ')}`)
  const first = seen[0]?.place ?? 0
  t.ok(first > ahead / 3, `the buyer joined behind a line (place ${first})`)

  // The bar: its length is the first place, its value the places gone since.
  t.ok(seen.every((s) => s.max === first), `the bar's length stays the first place (${first})`)
  const wrong = seen.filter((s) => s.value !== s.max - s.place)
  t.same(wrong.map((s) => `${s.value}/${s.max} at place ${s.place}`), [], 'the bar shows the places gone at every read')
  const values = [...new Set(seen.map((s) => s.value))]
  t.ok(values.length >= 4 && values.every((v, i) => i === 0 || v > (values[i - 1] as number)), `the bar fills, never empties: ${values.join(' → ')} of ${first}`)
  t.equal(values[0], 0, 'it starts empty')

  // "Updated N s ago": counts up between polls, back to 0 s when the service answers.
  const ages = seen.map((s) => /^Updated (\d+) s ago\.$/.exec(s.updated)?.[1]).map((x) => x === undefined ? -1 : Number(x))
  t.ok(ages.every((a) => a >= 0), `always "Updated N s ago" (${[...new Set(seen.map((s) => s.updated))].join(' | ')})`)
  t.ok(ages.some((a) => a >= 1), 'it counts up between answers')
  t.ok(ages.some((a, i) => a === 0 && ages.slice(0, i).some((b) => b >= 1)), 'and goes back to 0 s on the next answer')
  t.ok(Math.max(...ages) <= 4, `never older than the polls while the service answers (at most ${Math.max(...ages)} s)`)

  // The estimate: the distinct numbers shown, in order.
  const shown: Array<{ at: number, s: number, text: string }> = []
  for (const s of seen) {
    const n = etaSeconds(s.eta)
    if (n !== undefined && shown[shown.length - 1]?.text !== s.eta) shown.push({ at: s.at, s: n, text: s.eta })
  }
  const story = shown.map((x) => `${((x.at - (seen[0]?.at ?? 0)) / 1000).toFixed(1)} s: ${x.s}`).join(', ')
  t.ok(shown.length >= 3, `an estimate was shown and counted down (${story})`)
  const rises = shown.filter((x, i) => i > 0 && x.s > (shown[i - 1] as { s: number }).s)
  t.same(rises.map((x) => x.text), [], `the estimate never rises (${story})`)
  // Counting down with the clock: between two readings it falls by no more than the time that
  // passed, give or take its rounding (1 s under 10 s, 5 s above) and the quarter by which a new
  // measurement may correct it; a first guess from one batch, corrected by half, is a jump.
  const jumps = shown.filter((x, i) => {
    const prev = shown[i - 1]
    if (prev === undefined) return false
    const grain = prev.s >= 10 ? 5 : 1
    return prev.s - x.s > (x.at - prev.at) / 1000 + grain + prev.s / 4
  })
  t.same(jumps.map((x) => x.text), [], `the estimate never jumps (${story})`)
})
