// Issue 35: every drain of a worker process asks whether its sale is held before a batch. Each
// busy shard used to read its own row every 100 ms (1,000 reads a second at 50 sales of 2
// shards); workers/drain/held-sales.ts reads every drained sale's row in one statement, at most
// every look, and the answers stay those of MySQL's rows.
import t from 'tap'
import type { Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import pino from 'pino'
import { eventsRepository } from '../../src/catalog'
import { HeldSales } from '../../workers/drain/held-sales'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'

const quiet = pino({ level: 'silent' })

interface Sales {
  readonly env: TestEnv
  readonly ids: number[]
  readonly events: ReturnType<typeof eventsRepository>
  /** An operator's pause or resume of a sale, through the API (checked 200). */
  readonly control: (id: number, action: 'pause' | 'resume', what: string) => Promise<void>
}

/** A running service with `count` sales of one unit, and the catalog's events repository on its MySQL. */
async function sales (t: Test, count: number): Promise<Sales> {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const admin = env.token(1, 'admin')
  const ids: number[] = []
  for (let i = 0; i < count; i++) ids.push(await createSale(http, env, { stock: 1 }))
  const control = async (id: number, action: 'pause' | 'resume', what: string): Promise<void> => {
    t.equal((await http.request('POST', `/api/v1/admin/events/${id}/${action}`, { token: admin })).status, 200, what)
  }
  return { env, ids, events: eventsRepository(env.db), control }
}

t.test('one read answers every sale asked at once; a hold and a resume are seen within a look', async (t) => {
  const { ids: three, events, control } = await sales(t, 3)
  const [a, b, c] = three as [number, number, number]
  await control(b, 'pause', 'sale b held')

  const reads: number[][] = []
  const held = new HeldSales(async (ids) => { reads.push([...ids]); return await events.heldAmong(ids) }, quiet, 200)

  // 30 drains of three sales ask at the same moment: one read.
  const answers = await Promise.all(Array.from({ length: 30 }, async (_, i) => await held.isHeld(three[i % 3] as number)))
  t.equal(reads.length, 1, 'one read for thirty asks')
  t.same([...(reads[0] ?? [])].sort(), [...three].sort(), 'of the three sales')
  t.same(answers.slice(0, 3), [false, true, false], 'b is held, a and c are not')

  // Within the look: from memory.
  t.equal(await held.isHeld(a), false)
  t.equal(reads.length, 1, 'no read within the look')

  // A hold taken now, and b resumed: seen once the look has passed.
  await control(c, 'pause', 'sale c held')
  await control(b, 'resume', 'sale b resumed')
  await until(async () => await held.isHeld(c) && !await held.isHeld(b), 5000, 'c held and b resumed')
  t.ok(reads.length >= 2, `read again after the look (${reads.length} reads)`)
})

t.test('a failed read keeps the last answers, and the next ask reads again', async (t) => {
  const { ids: [sale = 0], events, control } = await sales(t, 1)
  await control(sale, 'pause', 'held')
  let failNext = false
  let reads = 0
  const held = new HeldSales(async (ids) => {
    reads++
    if (failNext) { failNext = false; throw new Error('MySQL went away') }
    return await events.heldAmong(ids)
  }, quiet, 0)
  t.equal(await held.isHeld(sale), true, 'held')
  failNext = true
  t.equal(await held.isHeld(sale), true, 'a failed read keeps the hold (an outage does not lift it)')
  t.equal(reads, 2)
  await control(sale, 'resume', 'resumed')
  t.equal(await held.isHeld(sale), false, 'the next read sees the resume')
  t.equal(reads, 3)
})

t.test('a sale that ended while held is not held (its buyers still get their answers)', async (t) => {
  const { env, ids: [sale = 0], events, control } = await sales(t, 1)
  await control(sale, 'pause', 'held')
  t.same([...await events.heldAmong([sale, 999_999_999])], [sale], 'held; an unknown id is not')
  await env.db('seckill_events').where({ id: sale }).update({ end_at: env.db.raw('CURRENT_TIMESTAMP(3)') })
  t.same([...await events.heldAmong([sale])], [], 'ended: no longer held')
  t.same([...await events.heldAmong([])], [], 'no sales, no read')
})

t.test('a read that does not answer holds the drains up for the read wait only, with the last answers', async (t) => {
  const { ids: [sale = 0], events, control } = await sales(t, 1)
  await control(sale, 'pause', 'held')
  let hang = false
  let reads = 0
  const held = new HeldSales(async (ids) => {
    reads++
    if (hang) return await new Promise<Set<number>>(() => undefined)
    return await events.heldAmong(ids)
  }, quiet, 0, 300)
  t.equal(await held.isHeld(sale), true, 'held')
  hang = true
  const started = Date.now()
  t.equal(await held.isHeld(sale), true, 'a stuck read: the last answer, the hold kept')
  t.ok(Date.now() - started < 3000, `answered after the read wait (${Date.now() - started} ms)`)
  t.equal(await held.isHeld(sale + 1), false, 'another sale is not stuck behind it either')
  hang = false
  await control(sale, 'resume', 'resumed')
  t.equal(await held.isHeld(sale), false, 'the next read answers')
  t.equal(reads, 4)
})

t.test('answers of sales nobody asks about any more are dropped; not while reads fail', async (t) => {
  const { ids: [a = 0, b = 0], events, control } = await sales(t, 2)
  await control(a, 'pause', 'a held')
  let fail = false
  const held = new HeldSales(async (ids) => {
    if (fail) throw new Error('MySQL went away')
    return await events.heldAmong(ids)
  }, quiet, 0, 2000, 200)
  t.equal(await held.isHeld(a), true)
  await sleep(300)
  fail = true
  t.equal(await held.isHeld(b), false, 'b unknown, the read failed: not held')
  t.equal(held.size, 1, 'a kept while reads fail, however old')
  t.equal(await held.isHeld(a), true, 'still held')
  fail = false
  t.equal(await held.isHeld(b), false)
  t.equal(held.size, 1, 'a, unasked past the limit, dropped after a read that answered; b kept')
  t.equal(await held.isHeld(a), true, 'asked again: read again, still held')
})
