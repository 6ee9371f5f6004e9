/**
 * A draw's placement as its owner records it in MySQL (start_placements), at the size issue 34
 * names: 1,000,000 entries are about 35 MB of JSON, over MariaDB's default max_allowed_packet
 * (16 MB), so one row could be neither written nor read back and the seed would never be shown.
 * Recorded in parts, in one transaction, once however often and however concurrently it is
 * recorded; read back whole and in order.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { testEnv } from '../helpers/env'
import { PLACEMENT_PART, eventsRepository } from '../../src/catalog/events'

t.test('a placement larger than one MySQL packet is recorded once, in parts, and read back whole', async (t) => {
  const env = await testEnv(t)
  const packet = Number((await env.db.raw('SELECT @@max_allowed_packet AS p') as [[{ p: number | string }]])[0][0].p)
  // Past the packet by a margin: each entry is 35 bytes of JSON ("<32 hex>",).
  const n = Math.max(PLACEMENT_PART * 2 + 1, Math.ceil(packet / 35) + 20_000)
  const bytes = randomBytes(16 * n).toString('hex')
  const order = Array.from({ length: n }, (_, i) => bytes.slice(32 * i, 32 * i + 32))
  t.ok(JSON.stringify(order).length > packet, `${n} entries: ${JSON.stringify(order).length} bytes of JSON, over the ${packet}-byte packet`)
  const events = eventsRepository(env.db)
  const placement = { shard: 0, base: 10, order }
  // Two owners (a late one and its successor) record the same placement at once, then again.
  await Promise.all([events.recordPlacement(77, placement), events.recordPlacement(77, placement)])
  await events.recordPlacement(77, placement)
  const rows = await env.db('start_placements').select('part', 'placed').where({ event_id: 77 }).orderBy('part') as Array<{ part: number, placed: number }>
  t.same(rows.map((r) => r.part), Array.from({ length: Math.ceil(n / PLACEMENT_PART) }, (_, i) => i), 'one row per part, each once')
  t.ok(rows.every((r) => Number(r.placed) === n), 'each part names the whole count')
  const back = await events.placements(77)
  t.equal(back.length, 1, 'one placement')
  t.match(back[0], { shard: 0, base: 10 })
  t.ok(back[0]?.order.length === n && back[0].order.every((e, i) => e === order[i]), 'the whole order, in drawn order')

  // A small placement of another shard is one part, as before.
  await events.recordPlacement(77, { shard: 1, base: 0, order: [] })
  t.same((await events.placements(77)).map((p) => [p.shard, p.order.length]), [[0, n], [1, 0]], 'an empty placement is recorded too')
})
