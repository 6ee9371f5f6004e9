/**
 * Issue 32, operator controls: a sale changed before its start (PATCH /admin/events/:id) and a
 * message to everyone in line (POST /admin/events/:id/message), through the API. What is given is
 * what changes, on every ingress (each holds the sale's row in its event cache); every refusal
 * (bad id, bad fields, not an operator, too late) is a clear 4xx that changes nothing; every
 * attempt is in the audit trail. The races: an edit against the sale's start (the guard is in the
 * UPDATE, on MySQL's clock), and edits of the stock against each other and a warm-up (Redis ends
 * with what MySQL has).
 */
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'
import type { Http } from '../helpers/sale'

interface Row { title: string, description: string | null, price_cents: number, stock: number, start_at: Date, end_at: Date, line_message: string | null, line_message_at: Date | null, updated_at: Date }

async function row (env: TestEnv, id: number): Promise<Row> {
  return await env.db('seckill_events').first('title', 'description', 'price_cents', 'stock', 'start_at', 'end_at', 'line_message', 'line_message_at', 'updated_at').where({ id }) as Row
}

async function trail (http: Http, admin: string, id: number): Promise<string[]> {
  const r = await http.request('GET', `/api/v1/admin/audit?target_type=event&target_id=${id}&page_size=100`, { token: admin })
  return (r.body.data.items as Array<{ action: string, outcome: string }>).map((a) => `${a.action}:${a.outcome}`)
}

/** Two ingresses whose cached rows live ten minutes: only the change's announcement refreshes them. */
async function twoIngresses (env: TestEnv): Promise<[Http, Http]> {
  const config = loadConfig({ ...env.env, PROCESS_ROLE: 'ingress', EVENT_CACHE_MS: '600000' })
  const a = await startTestService(env, config)
  const b = await startTestService(env, config)
  return [a.http, b.http]
}

t.test('a sale changed before its start: what is given changes on every ingress; refusals change nothing', async (t) => {
  const env = await testEnv(t)
  const [http, other] = await twoIngresses(env)
  const admin = env.token(1, 'admin')
  const id = await createSale(http, env, { stock: 10, startInMs: 600_000 })
  // Both ingresses hold the row now.
  t.equal((await other.request('GET', `/api/v1/events/${id}`)).body.data.title, 'Flash drop')
  // null: no token at all.
  const patch = async (path: string | number, body: unknown, token: string | null = admin): Promise<{ status: number, body: any }> =>
    await http.request('PATCH', `/api/v1/admin/events/${path}`, { token: token ?? undefined, body })

  const before = await row(env, id)
  const start = new Date(before.start_at.getTime() + 30 * 60_000)
  const end = new Date(start.getTime() + 2 * 3_600_000)
  const description = 'Only at midnight: <b>one</b> pair each.\nSizes 38-46.'
  const changed = await patch(id, { title: 'Midnight drop', description, price_cents: 12_345, start_at: start.toISOString(), end_at: end.toISOString() })
  t.equal(changed.status, 200, `changed (${JSON.stringify(changed.body)})`)
  t.match(changed.body.data, { title: 'Midnight drop', description, price_cents: 12_345, start_at: start.toISOString(), end_at: end.toISOString(), stock: 10, status: 'upcoming' })
  const after = await row(env, id)
  t.same([after.title, after.description, after.price_cents, after.start_at.getTime(), after.end_at.getTime(), after.stock], ['Midnight drop', description, 12_345, start.getTime(), end.getTime(), 10], 'in MySQL')
  await until(async () => (await other.request('GET', `/api/v1/events/${id}`)).body.data.title === 'Midnight drop', 5000, 'the other ingress to serve the new title')
  t.equal((await other.request('GET', `/api/v1/events/${id}`)).body.data.start_at, start.toISOString(), 'and the new start')

  // Refusals: each a clear 4xx, and the row exactly as it was.
  const kept = await row(env, id)
  const refusals: Array<[string, string | number, unknown, string | null, number, string]> = [
    ['a malformed id', 'abc', { title: 'x' }, admin, 400, 'BAD_REQUEST'],
    ['id 0', 0, { title: 'x' }, admin, 400, 'BAD_REQUEST'],
    ['an unknown sale', 999_999_999, { title: 'x' }, admin, 404, 'EVENT_NOT_FOUND'],
    ['an empty title', id, { title: '   ' }, admin, 400, 'BAD_REQUEST'],
    ['a description of 2,001 characters', id, { description: 'x'.repeat(2001) }, admin, 400, 'BAD_REQUEST'],
    ['a description that is not text', id, { description: 7 }, admin, 400, 'BAD_REQUEST'],
    ['a negative price', id, { price_cents: -1 }, admin, 400, 'BAD_REQUEST'],
    ['a price that is not a number', id, { price_cents: '12' }, admin, 400, 'BAD_REQUEST'],
    ['a start that is not a time', id, { start_at: 'tomorrow' }, admin, 400, 'BAD_REQUEST'],
    ['an end before the start', id, { end_at: new Date(start.getTime() - 60_000).toISOString() }, admin, 400, 'BAD_REQUEST'],
    ['a start in the past', id, { start_at: new Date(Date.now() - 60_000).toISOString() }, admin, 400, 'BAD_REQUEST'],
    ['a start within the edit cutoff', id, { start_at: new Date(Date.now() + 500).toISOString() }, admin, 400, 'BAD_REQUEST'],
    ['a lead window on a plain sale', id, { lead_ms: 5000 }, admin, 400, 'BAD_REQUEST'],
    ['an unknown field', id, { colour: 'red' }, admin, 400, 'BAD_REQUEST'],
    ['no field at all', id, {}, admin, 400, 'BAD_REQUEST'],
    ['a buyer', id, { title: 'Mine now' }, env.token(77), 403, 'FORBIDDEN'],
    ['no token', id, { title: 'Mine now' }, null, 401, 'UNAUTHORIZED']
  ]
  for (const [what, path, body, token, status, code] of refusals) {
    const r = await patch(path, body, token)
    t.same([r.status, r.body.code], [status, code], `${what}: ${status} ${code}`)
    t.ok(typeof r.body.message === 'string' && r.body.message.length > 0, `${what}: says why (${String(r.body.message)})`)
  }
  t.same(await row(env, id), kept, 'nothing changed in MySQL')
  t.equal((await other.request('GET', `/api/v1/events/${id}`)).body.data.title, 'Midnight drop', 'nor on the ingresses')

  // Started: 409, and nothing changed.
  const started = await createSale(http, env, { stock: 5 })
  const startedBefore = await row(env, started)
  const late = await patch(started, { title: 'Too late', start_at: new Date(Date.now() + 600_000).toISOString() })
  t.same([late.status, late.body.code], [409, 'EVENT_NOT_EDITABLE'], 'a started sale: 409')
  t.match(late.body.message, /not started/, 'and why')
  t.same(await row(env, started), startedBefore, 'nothing changed')

  // A randomized start's lead window open: too late as well (its buyers are entering).
  const drawn = await createSale(http, env, { stock: 5, startInMs: 60_000, fields: { entry: 'random_at_start', lead_ms: 120_000 } })
  const drawnBefore = await row(env, drawn)
  const inLead = await patch(drawn, { title: 'Too late' })
  t.same([inLead.status, inLead.body.code], [409, 'EVENT_NOT_EDITABLE'], 'a randomized start in its lead window: 409')
  t.match(inLead.body.message, /lead window/, 'and why')
  t.same(await row(env, drawn), drawnBefore, 'nothing changed')

  const actions = await trail(http, admin, id)
  t.equal(actions.filter((a) => a === 'event.update:done').length, 1, 'the change is in the audit trail once')
  t.equal(actions.filter((a) => a === 'event.update:refused').length, 12, 'and the twelve refusals of it, as refused')

  // null removes the description.
  t.equal((await patch(id, { description: null })).body.data.description, null, 'the description removed')
  t.equal((await row(env, id)).description, null, 'in MySQL too')
  t.ok((await trail(http, admin, started)).includes('event.update:refused'), 'the late edit too')
})

t.test('an edit racing the start: accepted only while the start is more than 2 s away on MySQL\'s clock', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const admin = env.token(1, 'admin')
  const id = await createSale(http, env, { stock: 3, startInMs: 6000 })
  const answers: number[] = []
  let lastAccepted = 'Flash drop'
  for (let i = 0; ; i++) {
    const r = await http.request('PATCH', `/api/v1/admin/events/${id}`, { token: admin, body: { title: `Edit ${i}` } })
    answers.push(r.status)
    if (r.status === 200) lastAccepted = `Edit ${i}`
    else break
  }
  t.equal(answers.at(-1), 409, 'edits are refused once the start is near')
  t.ok(answers.length > 1, `some were accepted before (${answers.length - 1})`)
  const r = await row(env, id)
  t.equal(r.title, lastAccepted, 'the row has the last accepted edit, and no refused one')
  // updated_at is written by the same UPDATE, on MySQL's clock: the last change was made while the
  // start was more than the cutoff away.
  t.ok(r.start_at.getTime() - r.updated_at.getTime() > 2000, `the last change was made ${r.start_at.getTime() - r.updated_at.getTime()} ms before the start`)
})

t.test('edits of the stock racing each other and a warm-up: Redis ends with the stock MySQL has', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const admin = env.token(1, 'admin')
  const id = await createSale(http, env, { stock: 10, startInMs: 600_000 })
  for (let round = 0; round < 6; round++) {
    const stocks = [7 + round, 13 + round]
    // Two operator tabs change the stock at once while a warm-up (as a worker's discovery would) runs.
    const answers = await Promise.all([
      ...stocks.map(async (stock) => await http.request('PATCH', `/api/v1/admin/events/${id}`, { token: admin, body: { stock } })),
      http.request('POST', `/api/v1/admin/events/${id}/warmup`, { token: admin })
    ])
    t.same(answers.map((a) => a.status), [200, 200, 200], `round ${round}: both edits and the warm-up answered`)
    const mysql = (await row(env, id)).stock
    const redis = await env.redis.get(env.keys.shard({ eventId: id, shard: 0 }).stock)
    t.equal(redis, String(mysql), `round ${round}: Redis holds ${String(redis)}, MySQL ${mysql}`)
  }

  // A warm-up of the lost shard waits for the sale's row (held here, as by a long transaction)
  // while an edit of the stock waits too; the row freed, the edit commits before the warm-up reads
  // the stock. The warm-up must write what it reads under the row's lock, not the row it was given
  // before (a warm-up writing the stale row failed every round here).
  for (let round = 0; round < 4; round++) {
    await env.redis.del(env.keys.shard({ eventId: id, shard: 0 }).stock)
    const trx = await env.db.transaction()
    await trx.raw('SELECT id FROM seckill_events WHERE id = ? FOR UPDATE', [id])
    const warm = http.request('POST', `/api/v1/admin/events/${id}/warmup`, { token: admin })
    await sleep(200)
    const edit = http.request('PATCH', `/api/v1/admin/events/${id}`, { token: admin, body: { stock: 30 + round } })
    await sleep(200)
    await trx.commit()
    const answers = await Promise.all([warm, edit])
    t.same(answers.map((a) => a.status), [200, 200], `held round ${round}: the warm-up and the edit answered`)
    const mysql = (await row(env, id)).stock
    const redis = await env.redis.get(env.keys.shard({ eventId: id, shard: 0 }).stock)
    t.equal(redis, String(mysql), `held round ${round}: Redis holds ${String(redis)}, MySQL ${mysql}`)
  }
})

t.test('a message to everyone in line: set, shown by every ingress, cleared; refusals change nothing', async (t) => {
  const env = await testEnv(t)
  const [http, other] = await twoIngresses(env)
  const admin = env.token(1, 'admin')
  const id = await createSale(http, env, { stock: 3 })
  t.same((await other.request('GET', `/api/v1/events/${id}`)).body.data.line_message, null, 'no message at first')
  // null: no token at all.
  const post = async (path: string | number, body: unknown, token: string | null = admin): Promise<{ status: number, body: any }> =>
    await http.request('POST', `/api/v1/admin/events/${path}/message`, { token: token ?? undefined, body })

  const payload = '<img src=x onerror="alert(1)"><script>alert(2)</script> Doors close at 21:00 & not before'
  const set = await post(id, { text: `  ${payload}\n ` })
  t.equal(set.status, 200, `set (${JSON.stringify(set.body)})`)
  t.equal(set.body.data.line_message, payload, 'stored trimmed, as given (plain text, not escaped or stripped)')
  const stored = await row(env, id)
  t.equal(stored.line_message, payload, 'on the sale\'s row')
  const [clock] = await env.db.raw('SELECT CURRENT_TIMESTAMP(3) AS now') as [Array<{ now: Date }>]
  const age = (clock[0] as { now: Date }).now.getTime() - (stored.line_message_at as Date).getTime()
  t.ok(age >= 0 && age < 5000, `stamped with MySQL's clock (${age} ms ago)`)
  t.equal(set.body.data.line_message_at, (stored.line_message_at as Date).toISOString(), 'and answered with that time')
  await until(async () => (await other.request('GET', `/api/v1/events/${id}`)).body.data.line_message === payload, 5000, 'the other ingress to serve the message')
  t.pass('every ingress serves it')

  // Exactly 280 characters (code points) is the most; with spaces around, they are trimmed first.
  const longest = '界'.repeat(279) + '😀'
  t.equal((await post(id, { text: ` ${longest} ` })).body.data.line_message, longest, '280 characters, an emoji among them')

  const kept = await row(env, id)
  const refusals: Array<[string, string | number, unknown, string | null, number, string]> = [
    ['281 characters', id, { text: 'x'.repeat(281) }, admin, 400, 'BAD_REQUEST'],
    ['a control character', id, { text: 'ring \u0007 the bell' }, admin, 400, 'BAD_REQUEST'],
    ['no text', id, {}, admin, 400, 'BAD_REQUEST'],
    ['a text that is not a string', id, { text: 42 }, admin, 400, 'BAD_REQUEST'],
    ['an unknown field', id, { text: 'hi', html: '<b>hi</b>' }, admin, 400, 'BAD_REQUEST'],
    ['a malformed id', 'abc', { text: 'hi' }, admin, 400, 'BAD_REQUEST'],
    ['an unknown sale', 999_999_999, { text: 'hi' }, admin, 404, 'EVENT_NOT_FOUND'],
    ['a buyer', id, { text: 'Free units!' }, env.token(77), 403, 'FORBIDDEN'],
    ['no token', id, { text: 'Free units!' }, null, 401, 'UNAUTHORIZED']
  ]
  for (const [what, path, body, token, status, code] of refusals) {
    const r = await post(path, body, token)
    t.same([r.status, r.body.code], [status, code], `${what}: ${status} ${code}`)
    t.ok(typeof r.body.message === 'string' && r.body.message.length > 0, `${what}: says why (${String(r.body.message)})`)
  }
  t.same(await row(env, id), kept, 'nothing changed in MySQL')

  // An empty text (after trimming) clears it.
  const cleared = await post(id, { text: '  \n ' })
  t.same([cleared.status, cleared.body.data.line_message, cleared.body.data.line_message_at], [200, null, null], 'cleared')
  t.same([(await row(env, id)).line_message, (await row(env, id)).line_message_at], [null, null], 'in MySQL too')
  await until(async () => (await other.request('GET', `/api/v1/events/${id}`)).body.data.line_message === null, 5000, 'the other ingress to drop it')

  const actions = await trail(http, admin, id)
  t.equal(actions.filter((a) => a === 'event.message:done').length, 3, 'each message set or cleared is in the audit trail')
  t.equal(actions.filter((a) => a === 'event.message:refused').length, 5, 'and the five refusals of it')
})
