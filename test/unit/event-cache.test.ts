// The ingress's event cache is bounded: an event's entry (its row, and a sold-out sale's set of
// holders, which can be large) is dropped once unread for the idle time, so memory does not grow
// with every sale an ingress ever served. Against the real MySQL and Redis.
import t from 'tap'
import { EventCache } from '../../src/sale/event-cache'
import { eventsRepository } from '../../src/catalog/events'
import { createLogger } from '../../src/logger'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'

/** One product and a live sale of it per title, as rows in MySQL; the sales' ids in order. */
async function saleRows (env: TestEnv, titles: readonly string[], stock = 5): Promise<number[]> {
  const [productId] = await env.db('products').insert({ title: 'p', price_cents: 100 }) as number[]
  const ids: number[] = []
  for (const title of titles) {
    const [id] = await env.db('seckill_events').insert({ product_id: productId, title, price_cents: 90, stock, start_at: new Date(), end_at: new Date(Date.now() + 3_600_000) }) as number[]
    ids.push(id as number)
  }
  return ids
}

t.test('entries of events nobody reads are dropped after the idle time; a read event stays', async (t) => {
  const env = await testEnv(t)
  const ids = await saleRows(env, Array.from({ length: 30 }, (_, i) => `e${i}`))
  const IDLE_MS = 300
  // Idle time on a clock the test moves: loading 30 events may take longer than IDLE_MS on a busy
  // machine, and no entry must go idle before the test says so.
  let now = 1_000_000
  const cache = new EventCache({ repo: eventsRepository(env.db), sale: env, ttlMs: 60_000, log: createLogger('silent', 'test'), idleMs: IDLE_MS, idleClock: { now: () => now } })
  t.teardown(() => { cache.close() })
  // Ten of the sales are sold out: their entries carry the holders' set.
  for (const id of ids.slice(0, 10)) await env.redis.set(env.keys.event(id).soldOut, '1')
  for (const id of ids) t.ok(await cache.get(id), `event ${id} cached`)
  t.equal(cache.size, 30)
  t.ok((await cache.get(ids[0] as number))?.holders !== undefined, 'a sold-out sale carries its holders')

  now += IDLE_MS + 100 // past the idle time of every entry
  const kept = await cache.get(ids[29] as number) // one sale is still read
  t.ok(kept !== undefined)
  cache.dropIdle()
  t.equal(cache.size, 1, 'only the event read again is held')
  t.equal((await cache.get(ids[0] as number))?.event.id, ids[0], 'a dropped event is loaded again when asked for')
})

t.test('units that come back while the entry refreshes: the refresh does not bring the sold-out answer back', async (t) => {
  const env = await testEnv(t)
  const [eventId = 0] = await saleRows(env, ['e'], 1)
  // The real Redis; one EXISTS (the refresh's read of the sold-out flag) has its answer held back
  // until the test lets it through, to order the refresh's read before the reopening and its
  // return after it.
  let hold: Promise<void> | undefined
  let read: () => void = () => undefined
  const flagRead = new Promise<void>((resolve) => { read = resolve })
  const redis = new Proxy(env.redis, {
    get (target, prop) {
      if (prop === 'exists' && hold !== undefined) {
        const h = hold
        hold = undefined
        return async (...args: Parameters<typeof target.exists>) => { const r = await target.exists(...args); read(); await h; return r }
      }
      const v = Reflect.get(target, prop, target) as unknown
      return typeof v === 'function' ? v.bind(target) : v
    }
  })
  // Every read refreshes the entry (answering from the one it has meanwhile).
  const cache = new EventCache({ repo: eventsRepository(env.db), sale: { redis, keys: env.keys }, ttlMs: 0, log: createLogger('silent', 'test') })
  t.teardown(() => { cache.close() })
  await env.redis.set(env.keys.event(eventId).soldOut, '1')
  await cache.get(eventId)
  t.equal(cache.answersSoldOut(eventId), true, 'sold out: buyers without a ticket are answered from memory')

  let release: () => void = () => undefined
  hold = new Promise((resolve) => { release = resolve })
  await cache.get(eventId) // starts a refresh, which reads the flag (still set)...
  await flagRead
  // ...and the unit comes back before its answer is used: the flag goes, the ingress is told.
  await env.redis.del(env.keys.event(eventId).soldOut)
  cache.clearSoldOut(eventId)
  t.equal(cache.answersSoldOut(eventId), false, 'told: no longer answered from memory')
  release()
  await new Promise((resolve) => setImmediate(resolve)) // the refresh ends
  t.equal(cache.answersSoldOut(eventId), false, 'the refresh that read the flag before the reopening leaves it so')
  t.equal((await cache.get(eventId))?.holders, undefined)
})

t.test('a reopening heard while the holders of a large sale load: the sold-out flag is not raised after it', async (t) => {
  const env = await testEnv(t)
  const [eventId = 0] = await saleRows(env, ['e'], 1)
  // The holders' load (HSCAN) is held until the test lets it finish.
  let release: () => void = () => undefined
  let started: () => void = () => undefined
  const loading = new Promise<void>((resolve) => { started = resolve })
  const held = new Promise<void>((resolve) => { release = resolve })
  const redis = new Proxy(env.redis, {
    get (target, prop) {
      if (prop === 'hscan') return async (...args: Parameters<typeof target.hscan>) => { started(); await held; return await target.hscan(...args) }
      const v = Reflect.get(target, prop, target) as unknown
      return typeof v === 'function' ? v.bind(target) : v
    }
  })
  const cache = new EventCache({ repo: eventsRepository(env.db), sale: { redis, keys: env.keys }, ttlMs: 60_000, log: createLogger('silent', 'test') })
  t.teardown(() => { cache.close() })
  await cache.get(eventId)
  await env.redis.set(env.keys.event(eventId).soldOut, '1')
  const marking = cache.markSoldOut(eventId) // the sold-out announcement: holders load...
  await loading
  // ...and a unit comes back before they are loaded: the flag goes, the ingress is told.
  await env.redis.del(env.keys.event(eventId).soldOut)
  cache.clearSoldOut(eventId)
  release()
  await marking
  t.equal(cache.answersSoldOut(eventId), false, 'the reopening wins over the load that began before it')
})

t.test('a stale entry refreshes with every other read entry past half its ttl, in one statement', async (t) => {
  const env = await testEnv(t)
  const ids = await saleRows(env, Array.from({ length: 20 }, (_, i) => `before ${i}`))
  // The real repository, its statements counted.
  const repo = eventsRepository(env.db)
  const statements: number[][] = []
  const counted = { ...repo, findByIds: async (wanted: readonly number[]) => { statements.push([...wanted]); return await repo.findByIds(wanted) } }
  // The ttl is read on each use: the test makes every entry stale at once by lowering it.
  let ttlMs = 3_600_000
  const cache = new EventCache({ repo: counted, sale: env, get ttlMs () { return ttlMs }, log: createLogger('silent', 'test') })
  t.teardown(() => { cache.close() })
  for (const id of ids) await cache.get(id)
  t.equal(statements.length, 20, 'first loads: a statement each')

  // 15 of the sales are read again; 5 are not.
  for (const id of ids.slice(0, 15)) await cache.get(id)
  await env.db('seckill_events').whereIn('id', ids).update({ title: 'after' })
  ttlMs = 0
  statements.length = 0
  t.equal((await cache.get(ids[0] as number, true))?.event.title, 'after', 'the stale entry read its row again')
  t.equal(statements.length, 1, 'one statement')
  t.same([...(statements[0] ?? [])].sort((a, b) => a - b), ids.slice(0, 15), 'with it every entry read since its load; none unread')

  ttlMs = 3_600_000
  // The others' loads finish after the statement (each reads its sold-out flag in Redis).
  const titles = async (): Promise<string[]> => await Promise.all(ids.map(async (id) => (await cache.get(id))?.event.title ?? ''))
  const deadline = Date.now() + 10_000
  while ((await titles()).slice(0, 15).some((title) => title !== 'after') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
  t.same((await titles()).slice(0, 15), Array(15).fill('after'), 'the read entries hold the new rows')
  t.same((await titles()).slice(15), ids.slice(15).map((_, i) => `before ${15 + i}`), 'the unread ones keep theirs until they are read stale')
  t.equal(statements.length, 1, 'and no statement more')

  // A first load (an id not held) takes no other entry along.
  ttlMs = 60_000
  statements.length = 0
  cache.forget(ids[19] as number)
  await cache.get(ids[19] as number)
  t.same(statements, [[ids[19]]], 'a first load reads its own row only')
})

t.test('an event forgotten while another sale\'s refresh reads its row: the row read before the change is not kept', async (t) => {
  const env = await testEnv(t)
  const [a, b] = await saleRows(env, ['a', 'b']) as [number, number]
  // The real repository; the first statement that reads both rows answers only when the test says.
  const repo = eventsRepository(env.db)
  let release: () => void = () => undefined
  const held = new Promise<void>((resolve) => { release = resolve })
  let read: () => void = () => undefined
  const statementRead = new Promise<void>((resolve) => { read = resolve })
  const gated = {
    ...repo,
    findByIds: async (wanted: readonly number[]) => {
      const rows = await repo.findByIds(wanted)
      if (wanted.length === 2) { read(); await held }
      return rows
    }
  }
  let ttlMs = 3_600_000
  const cache = new EventCache({ repo: gated, sale: env, get ttlMs () { return ttlMs }, log: createLogger('silent', 'test') })
  t.teardown(() => { cache.close() })
  await cache.get(a)
  await cache.get(b)
  await cache.get(b) // read since its load: the next refresh takes it along
  ttlMs = 0
  void cache.get(a) // a's refresh reads a's and b's rows...
  await statementRead
  // ...and b changes before that statement's answer is used: the ingress forgets b.
  await env.db('seckill_events').where({ id: b }).update({ title: 'b changed' })
  cache.forget(b)
  ttlMs = 3_600_000
  t.equal((await cache.get(b))?.event.title, 'b changed', 'the first read after forget() loads b anew')
  release()
  t.equal((await cache.get(a, true))?.event.title, 'a')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal((await cache.get(b))?.event.title, 'b changed', 'the statement read before the change did not put its row back')
})

t.test('a refresh that fails in Redis is logged, once per event, and the cached row keeps answering', async (t) => {
  const env = await testEnv(t)
  const [eventId = 0] = await saleRows(env, ['e'])
  let failFlagRead = false
  const redis = new Proxy(env.redis, {
    get (target, prop) {
      if (prop === 'exists' && failFlagRead) return async () => { throw new Error('Redis is away') }
      const v = Reflect.get(target, prop, target) as unknown
      return typeof v === 'function' ? v.bind(target) : v
    }
  })
  const warns: string[] = []
  const log = { ...createLogger('silent', 'test'), warn: (_: unknown, msg: string) => { warns.push(msg) } } as unknown as ReturnType<typeof createLogger>
  let ttlMs = 3_600_000
  const cache = new EventCache({ repo: eventsRepository(env.db), sale: { redis, keys: env.keys }, get ttlMs () { return ttlMs }, log })
  t.teardown(() => { cache.close() })
  await cache.get(eventId)
  failFlagRead = true
  ttlMs = 0
  t.equal((await cache.get(eventId, true))?.event.title, 'e', 'the cached row answers')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(warns, ['event refresh failed; serving the cached row'])
})
