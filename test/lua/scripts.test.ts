import t from 'tap'
import { readFileSync } from 'node:fs'
import { createRedis } from '../../src/redis/client'
import { Admit, admitBuyer } from '../../src/redis/commands'
import { Borrow, Reserve, borrowStock, fenceBorrower, finishTickets, readFreeUnits, releaseStock, reserveStock } from '../../src/stock/scripts'
import type { AdmitReply } from '../../src/redis/commands'
import type { BorrowReply, ReserveReply } from '../../src/stock/scripts'
import { repoPath } from '../../src/util/paths'
import { SCRIPT_NAMES } from '../../src/redis/scripts'
import type { RedisClient } from '../../src/redis/scripts'
import { ticketIdPrefix } from '../../src/shared/ticket-ids'
import { warmEvent } from '../../src/stock/sale-state'
import type { SaleEvent } from '../../src/shared/sale-event'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'

const LEASE = 'lease-token-under-test'
const NO_LIMIT = { max: 1_000_000, timeWindow: 60_000 }

function saleEvent (id: number, stock: number, shards = 1): SaleEvent {
  return { id, productId: 1, title: 't', priceCents: 1, stock, sold: 0, shards, startAt: new Date(0), endAt: new Date(Date.now() + 3_600_000), requireToken: false, warmedAt: null }
}

async function admit (env: TestEnv, eventId: number, shard: number, user: string, overbook = 1, client: RedisClient = env.redis): Promise<AdmitReply> {
  const ref = { eventId, shard }
  return await admitBuyer(client, { k: env.keys.shard(ref), q: env.keys.buyQueue(ref), ticketPrefix: ticketIdPrefix(eventId, shard), overbook, rate: NO_LIMIT }, user)
}

async function reserve (env: TestEnv, eventId: number, qposes: number[], token = LEASE): Promise<readonly number[]> {
  const reply: ReserveReply = await reserveStock(env.redis, env.keys.shard({ eventId, shard: 0 }), token, ticketIdPrefix(eventId, 0), qposes)
  return reply.leaseLost ? [-1] : reply.results.map((r) => r.result)
}

t.test('every key a script touches arrives through KEYS (Redis Cluster safe)', async (t) => {
  // (test/unit/lua-registry.test.ts checks that no script reads a KEYS entry past those it declares.)
  t.ok(SCRIPT_NAMES.length >= 10, 'all scripts found')
  for (const name of SCRIPT_NAMES) {
    const file = `${name}.lua`
    const source = readFileSync(repoPath('lua', file), 'utf8')
    const lua = source.replace(/--\[\[[\s\S]*?\]\]/g, '').replace(/--.*$/gm, '')
    for (const m of lua.matchAll(/redis\.call\('([A-Z]+)',\s*([^,)]+)/g)) {
      const [, command, first] = m
      if (command === 'PUBLISH') continue // a channel, not a key
      if (command === 'CLUSTER') continue // CLUSTER MYID: about the node, no key
      if (first === 'unpack(KEYS') continue // every declared key at once
      // A key may extend a KEYS entry documented as a key prefix (BullMQ's job hashes): the
      // prefix carries the hash tag, so the key lands in the same slot.
      const extended = /^KEYS\[(\d+)\] \.\. [\w[\]]+$/.exec(first ?? '')
      if (extended !== null) {
        t.match(source, new RegExp(`KEYS\\[${extended[1] ?? ''}\\][^\\n]*key prefix`), `${file}: KEYS[${extended[1] ?? ''}] is documented as a key prefix`)
        continue
      }
      t.match(first, /^KEYS\[\d+\]$/, `${file}: ${command} takes its key from KEYS`)
    }
    t.match(source, /^--\[\[[\s\S]*KEYS\[1\][\s\S]*\]\]/, `${file} documents its KEYS`)
  }
})

t.test('admitBuyer: 2,000 concurrent buyers against 100 units admit exactly 100', async (t) => {
  const env = await testEnv(t)
  await warmEvent(env, saleEvent(1, 100))
  const clients = Array.from({ length: 4 }, () => createRedis(env.config.redisUrl))
  t.teardown(() => clients.forEach((c) => c.disconnect()))
  const replies = await Promise.all(Array.from({ length: 2000 }, async (_, i) => await admit(env, 1, 0, String(1000 + i), 1, clients[i % 4])))
  const queued = replies.filter((r) => r.code === Admit.QUEUED)
  t.equal(queued.length, 100, 'exactly the stock is admitted')
  t.equal(replies.filter((r) => r.code === Admit.SOLD_OUT_NOW).length, 1900, 'everyone else is answered sold_out')
  t.same(queued.map((r) => r.qpos).sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i + 1), 'queue positions are 1..100, no gaps')
  const k = env.keys.shard({ eventId: 1, shard: 0 })
  t.equal(await env.redis.get(k.pending), '100')
  t.equal(await env.redis.get(k.stock), '100', 'admission reserves nothing')
  t.equal(await env.redis.get(k.rejectedAt), '100', 'the first rejection came after position 100')
  const q = env.keys.buyQueue({ eventId: 1, shard: 0 })
  t.same(await env.redis.lrange(q.wait, 0, -1), queued.map((r) => r.qpos).sort((a, b) => b - a).map((n) => `1-0-${n}`), 'each admitted ticket\'s job is queued, in position order')
})

t.test('admitBuyer: a resubmit returns the same ticket, queued or turned away', async (t) => {
  const env = await testEnv(t)
  await warmEvent(env, saleEvent(2, 1))
  const first = await admit(env, 2, 0, '7')
  t.same([first.code, first.qpos], [Admit.QUEUED, 1], 'queued at position 1')
  const again = await Promise.all(Array.from({ length: 50 }, async () => await admit(env, 2, 0, '7')))
  t.ok(again.every((r) => r.code === Admit.EXISTING && r.qpos === 1 && r.value === '7|queued|'), 'the same ticket, 50 times')
  t.equal((await admit(env, 2, 0, '8')).code, Admit.SOLD_OUT_NOW, 'the gate is full')
  t.equal((await admit(env, 2, 0, '8')).code, Admit.SOLD_OUT_BEFORE, 'and stays the same answer for that buyer')
  t.equal(await env.redis.get(env.keys.shard({ eventId: 2, shard: 0 }).qseq), '1')
})

t.test('admitBuyer: the gate counts free units of sibling shards, and a closed shard admits no one', async (t) => {
  const env = await testEnv(t)
  await warmEvent(env, saleEvent(3, 4, 2)) // 2 units per shard
  for (const u of ['1', '2', '3', '4']) t.equal((await admit(env, 3, 0, u)).code, Admit.QUEUED, `buyer ${u} admitted: shard 1's units can be borrowed`)
  t.equal((await admit(env, 3, 0, '5')).code, Admit.SOLD_OUT_NOW, 'no unit left anywhere for a fifth')
  await env.redis.set(env.keys.shard({ eventId: 3, shard: 1 }).closed, '1')
  t.equal((await admit(env, 3, 1, '6')).code, Admit.SOLD_OUT_NOW, 'closed shard answers sold_out')
})

t.test('admitBuyer: a shard that is not warm says so and changes nothing', async (t) => {
  const env = await testEnv(t)
  t.equal((await admit(env, 4, 0, '1')).code, Admit.NOT_WARM)
  t.equal(await env.redis.exists(env.keys.shard({ eventId: 4, shard: 0 }).holders), 0)
  t.same(await env.redis.keys(`${env.keys.prefix}:*e4.0*`), [], 'no key of the shard written: no job, no rate-limit count')
})

t.test('reserveStock: 80 concurrent reservations against 50 units give exactly 50, and a replay reserves nothing more', async (t) => {
  const env = await testEnv(t)
  await warmEvent(env, saleEvent(5, 50))
  for (let u = 1; u <= 80; u++) await admit(env, 5, 0, String(u), 2)
  const k = env.keys.shard({ eventId: 5, shard: 0 })
  await env.redis.set(k.lease, LEASE)
  const first = await Promise.all(Array.from({ length: 80 }, async (_, i) => await reserve(env, 5, [i + 1])))
  t.equal(first.filter((r) => r[0] === Reserve.NOW).length, 50, 'exactly 50 reserved')
  t.equal(first.filter((r) => r[0] === Reserve.NONE).length, 30, '30 found nothing')
  t.equal(await env.redis.get(k.stock), '0', 'stock never below zero')
  t.equal(await env.redis.get(k.pending), '30', 'reserved tickets left pending')

  const replay = await reserve(env, 5, Array.from({ length: 80 }, (_, i) => i + 1))
  t.equal(replay.filter((r) => r === Reserve.BEFORE).length, 50, 'the 50 are reported as reserved before')
  t.equal(replay.filter((r) => r === Reserve.NOW).length, 0, 'nothing reserved twice')
  t.equal(await env.redis.hlen(k.reserved), 50)
  t.equal(await env.redis.get(k.pending), '30')
})

t.test('reserveStock: batch order is FIFO and a stale lease changes nothing', async (t) => {
  const env = await testEnv(t)
  await warmEvent(env, saleEvent(6, 3))
  for (let u = 1; u <= 5; u++) await admit(env, 6, 0, String(u), 2)
  const k = env.keys.shard({ eventId: 6, shard: 0 })
  await env.redis.set(k.lease, LEASE)
  t.same(await reserve(env, 6, [1, 2, 3], 'someone-else'), [-1], 'fenced')
  t.equal(await env.redis.get(k.stock), '3')
  const r = await reserve(env, 6, [1, 2, 3, 4, 5])
  t.same(r, [Reserve.NOW, Reserve.NOW, Reserve.NOW, Reserve.NONE, Reserve.NONE], 'the first three in line win')
  await env.redis.hset(k.tickets, '5', '5|sold_out|')
  t.same(await reserve(env, 6, [5]), [Reserve.FINAL], 'a final ticket is skipped')
  t.same(await reserve(env, 6, [99]), [Reserve.UNKNOWN], 'an unknown position is reported')
  const reply = await reserveStock(env.redis, k, LEASE, ticketIdPrefix(6, 0), [2, 5, 99])
  t.same(reply.leaseLost ? [] : reply.results.map((r) => r.userId), ['2', '5', ''], 'each ticket\'s buyer comes back from its stored ticket')
})

t.test('borrowStock: takes only units not promised to the lender\'s own line, once per ticket', async (t) => {
  const env = await testEnv(t)
  const k = env.keys.shard({ eventId: 7, shard: 1 })
  await env.redis.set(k.stock, 10)
  await env.redis.set(k.pending, 4)
  const ids = Array.from({ length: 10 }, (_, i) => `7-0-${i + 1}`)
  const borrower = { shard: 0, fence: 3 }
  const borrow = async (mode: 'check' | 'take', by = borrower): Promise<BorrowReply> => {
    const r = await borrowStock(env.redis, k, by, mode, ids)
    if (r === 'lease_lost') throw new Error('refused')
    return r
  }
  const check = await borrow('check')
  t.same(check.results, new Array(10).fill(Borrow.NONE), 'check takes nothing')
  const take = await borrow('take')
  t.same(take.results, [1, 1, 1, 1, 1, 1, 0, 0, 0, 0], '6 free units lent in order')
  t.equal(take.stock, 4, 'stock left for the lender\'s own 4 pending tickets')
  const again = await borrow('take')
  t.same(again.results, [2, 2, 2, 2, 2, 2, 0, 0, 0, 0], 'a retry finds the units it holds and takes no more')
  t.equal(await env.redis.get(k.stock), '4')

  // A new owner of the borrowing shard records its fencing number here: the former owner is refused.
  t.equal(await fenceBorrower(env.redis, k, 0, 4), 4)
  t.equal(await fenceBorrower(env.redis, k, 0, 2), 4, 'the recorded number never goes down')
  await env.redis.incrby(k.stock, 5)
  t.equal(await borrowStock(env.redis, k, borrower, 'take', ['7-0-11']), 'lease_lost', 'a former owner of the borrowing shard takes nothing')
  t.equal(await env.redis.get(k.stock), '9')
  t.same((await borrow('take', { shard: 0, fence: 4 })).results.slice(0, 1), [2], 'the current owner borrows as before')
})

t.test('releaseStock: a unit comes back once', async (t) => {
  const env = await testEnv(t)
  const k = env.keys.shard({ eventId: 8, shard: 0 })
  await env.redis.set(k.stock, 0)
  await env.redis.hset(k.reserved, '8-0-1', '1', '8-0-2', '1')
  const results = await Promise.all(Array.from({ length: 20 }, async () => await releaseStock(env.redis, k, ['8-0-1'])))
  t.equal(results.reduce((a, b) => a + b, 0), 1, 'one of 20 concurrent releases returns the unit')
  t.equal(await env.redis.get(k.stock), '1')
})

t.test('finishTickets: writes each outcome once, advances the FIFO mark, tells pollers', async (t) => {
  const env = await testEnv(t)
  const k = env.keys.shard({ eventId: 9, shard: 0 })
  await env.redis.set(k.lease, LEASE)
  await env.redis.set(k.pending, 2)
  await env.redis.hset(k.tickets, '1', '11|queued|', '2', '12|queued|', '3', '13|won|77')
  const sub = createRedis(env.config.redisUrl)
  t.teardown(() => sub.disconnect())
  const messages: string[] = []
  sub.on('message', (_c: string, m: string) => messages.push(m))
  await sub.subscribe(env.keys.outcomeChannel)
  const decisions = [
    { qpos: 1, status: 'won', detail: '501', leavesPending: false },
    { qpos: 2, status: 'sold_out', detail: '', leavesPending: true },
    { qpos: 3, status: 'sold_out', detail: '', leavesPending: true }
  ]
  const run = async (): Promise<unknown> => await finishTickets(env.redis, k, LEASE, env.keys.outcomeChannel, 'e9.0', 1234.5, decisions)
  const first = await run()
  t.same(first, { leaseLost: false, stock: 0, pending: 1, changed: 2 }, 'two tickets changed; only the still-pending one left pending')
  t.same(await env.redis.hgetall(k.tickets), { 1: '11|won|501', 2: '12|sold_out|', 3: '13|won|77' }, 'a final ticket keeps its outcome')
  t.equal(await env.redis.get(k.drained), '3')
  t.equal(await env.redis.get(k.rate), '1234.5')
  t.same(await finishTickets(env.redis, k, 'stale', env.keys.outcomeChannel, 'e9.0', 0, decisions), { leaseLost: true }, 'a stale lease writes nothing')
  const second = await run()
  t.match(second, { changed: 0 }, 'a replay changes nothing')
  t.equal(await env.redis.get(k.pending), '1', 'nor decrements twice')
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(messages, ['e9.0:1=won/501,2=sold_out'], 'one message for the changed tickets, with their outcomes')
})

t.test('admitBuyer: a buyer past the rate limit is refused with the time left in the window, and nothing changes', async (t) => {
  const env = await testEnv(t)
  const ref = { eventId: 61, shard: 0 }
  await warmEvent(env, saleEvent(61, 10))
  const target = { k: env.keys.shard(ref), q: env.keys.buyQueue(ref), ticketPrefix: ticketIdPrefix(61, 0), overbook: 1, rate: { max: 3, timeWindow: 60_000 } }
  const codes = []
  for (let i = 0; i < 5; i++) codes.push((await admitBuyer(env.redis, target, '7')).code)
  t.same(codes, [Admit.QUEUED, Admit.EXISTING, Admit.EXISTING, Admit.RATE_LIMITED, Admit.RATE_LIMITED], 'three buys a window')
  const refused = await admitBuyer(env.redis, target, '7')
  t.ok(refused.qpos > 0 && refused.qpos <= 60_000, `ms left in the window: ${refused.qpos}`)
  t.same([await env.redis.get(target.k.pending), await env.redis.llen(target.q.wait)], ['1', 1], 'one ticket, one job')
  t.equal((await admitBuyer(env.redis, target, '8')).code, Admit.QUEUED, 'another buyer is not limited')
  const windows = await env.redis.keys(`${target.k.buyRate}*`)
  t.equal(windows.length, 1, 'one window key')
  const ttl = await env.redis.pttl(windows[0] as string)
  t.ok(ttl > 0 && ttl <= 120_000, `the window expires after the next one (${ttl} ms)`)
})

t.test('readFreeUnits: stock less the line, less unsealed entrants, never below 0', async (t) => {
  const env = await testEnv(t)
  const k = env.keys.shard({ eventId: 9301, shard: 0 })
  t.equal(await readFreeUnits(env.redis, k), 0, 'a shard never warmed lends nothing')
  await env.redis.set(k.stock, 10)
  await env.redis.set(k.pending, 3)
  t.equal(await readFreeUnits(env.redis, k), 7, '10 units, 3 tickets waiting')
  await env.redis.hset(k.entrants, '501', 1, '502', 1)
  t.equal(await readFreeUnits(env.redis, k), 5, 'two entrants of a randomized start not sealed yet count as waiting')
  await env.redis.set(k.startSeal, '2')
  t.equal(await readFreeUnits(env.redis, k), 7, 'once sealed they are in pending already')
  await env.redis.set(k.pending, 12)
  t.equal(await readFreeUnits(env.redis, k), 0, 'more waiting than units: 0, not negative')
  t.equal(await env.redis.get(k.stock), '10', 'read only')
})
