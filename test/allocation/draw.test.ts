/**
 * The draw's core (src/sale/allocation/draw.ts): commitment, ranking by HMAC(seed, entry id), bad
 * input refused; and the README's recomputation script agreeing with it, and refusing a result
 * that was tampered with.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { commitmentOf, draw, drawKey, drawYielding, newDrawSeed, newEntryId } from '../../src/sale/allocation/draw'
import { repoPath } from '../../src/util/paths'
import { entryHasher } from '../../src/sale/allocation/draw-hmac'
import { createHmac, randomBytes } from 'node:crypto'

const ZERO_SEED = '0'.repeat(64)

t.test('commitment and keys: SHA-256 and HMAC-SHA256 of the seed\'s bytes', async (t) => {
  t.equal(commitmentOf(ZERO_SEED), '66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925', 'SHA-256 of 32 zero bytes')
  t.equal(drawKey(ZERO_SEED, 'a'.repeat(32)), drawKey(ZERO_SEED, 'a'.repeat(32)))
  t.not(drawKey(ZERO_SEED, 'a'.repeat(32)), drawKey('1'.repeat(64), 'a'.repeat(32)), 'another seed, another key')
  t.match(newDrawSeed(), /^[0-9a-f]{64}$/)
  t.match(newEntryId(), /^[0-9a-f]{32}$/)
  t.not(newDrawSeed(), newDrawSeed())
})

t.test('draw: ranked by key, the first units win, the same for the same seed, another for another seed', async (t) => {
  const seed = newDrawSeed()
  const ids = Array.from({ length: 200 }, () => newEntryId())
  const a = draw(seed, ids, 10)
  t.same(draw(seed, [...ids].reverse(), 10), a, 'the order of the list does not matter')
  t.same(a.winners, a.order.slice(0, 10))
  t.equal(a.order.length, 200)
  const keys = a.order.map((id) => drawKey(seed, id))
  t.same(keys, [...keys].sort(), 'lowest key first')
  t.not(draw(newDrawSeed(), ids, 10).winners.join(), a.winners.join(), 'another seed draws others')
  t.same(draw(seed, ids.slice(0, 3), 10).winners.length, 3, 'more units than entries: every entry wins')
  t.same(draw(seed, [], 10), { order: [], winners: [] })
})

t.test('the hand-written HMAC (draw-hmac.ts) writes the bytes node:crypto\'s createHmac does', async (t) => {
  const seeds = [Buffer.alloc(32), Buffer.alloc(32, 0xff), ...Array.from({ length: 18 }, () => randomBytes(32))]
  const out = new Uint32Array(8)
  let differ = 0
  let checked = 0
  for (const key of seeds) {
    const hash = entryHasher(key)
    for (const id of ['0'.repeat(32), 'f'.repeat(32), ...Array.from({ length: 1_000 }, () => newEntryId())]) {
      hash(id, out, 0)
      const got = Buffer.from(new Uint8Array(new Uint32Array(out).map((w) => ((w & 0xff) << 24) | ((w >>> 8 & 0xff) << 16) | ((w >>> 16 & 0xff) << 8) | (w >>> 24)).buffer)).toString('hex')
      if (got !== createHmac('sha256', key).update(id).digest('hex')) differ++
      checked++
    }
  }
  t.equal(differ, 0, `${checked} keys, none differ`)
  t.throws(() => entryHasher(Buffer.alloc(16)), /32 bytes/, 'another key size is refused')
})

t.test('draw: 50,000 entries in the order of their hex keys (first 29 bits tie for a few pairs)', async (t) => {
  const seed = newDrawSeed()
  const ids = Array.from({ length: 50_000 }, () => newEntryId())
  const keys = draw(seed, ids, 10).order.map((id) => drawKey(seed, id))
  let inOrder = true
  for (let i = 1; i < keys.length; i++) if ((keys[i - 1] as string) >= (keys[i] as string)) inOrder = false
  t.ok(inOrder, 'every key above the one before it')
  t.equal(keys.length, 50_000)
})

t.test('drawYielding: the same result as draw, with the event loop turning between slices', async (t) => {
  const seed = newDrawSeed()
  const ids = Array.from({ length: 5_000 }, () => newEntryId())
  // A timer due at once fires only if the loop turns while the ranking runs: the lease's renewal
  // timer on the shard owner's loop is such a timer.
  let turns = 0
  let timer: NodeJS.Timeout | undefined
  const tick = (): void => { turns++; timer = setTimeout(tick, 0) }
  timer = setTimeout(tick, 0)
  const yielding = await drawYielding(seed, ids, 7, 500)
  clearTimeout(timer)
  t.same(yielding, draw(seed, ids, 7), 'the same order and winners')
  t.ok(turns > 0, `timers ran ${turns} times during 10 slices (none if the ranking ran in one go)`)
  await t.rejects(drawYielding(seed, [ids[0] as string, ids[0] as string], 1), /appears twice/, 'the same checks')
  t.same(await drawYielding(seed, [], 3), { order: [], winners: [] })
})

t.test('draw: a malformed or repeated entry id, or a malformed seed, is an error', async (t) => {
  const id = newEntryId()
  t.throws(() => draw(ZERO_SEED, [id, id], 1), /appears twice/)
  t.throws(() => draw(ZERO_SEED, ['xyz'], 1), /32 hex digits/)
  t.throws(() => draw(ZERO_SEED, [id.toUpperCase()], 1), /32 hex digits/)
  t.throws(() => draw('abc', [id], 1), /64 lowercase hex/)
  t.throws(() => commitmentOf('Z'.repeat(64)), /64 lowercase hex/)
})

t.test('the README\'s recomputation script agrees with the draw, and refuses a tampered result', async (t) => {
  const readme = readFileSync(repoPath('README.md'), 'utf8')
  const block = /<!-- draw-check:start -->\n```js\n([\s\S]*?)```\n<!-- draw-check:end -->/.exec(readme)?.[1]
  t.ok(block, 'the README has the script')
  const dir = mkdtempSync(join(tmpdir(), 'draw-check-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const script = join(dir, 'check-draw.js')
  writeFileSync(script, block ?? '')
  const seed = newDrawSeed()
  const entries = Array.from({ length: 500 }, () => newEntryId())
  const result = draw(seed, entries, 20)
  const published = { commitment: commitmentOf(seed), seed, units: 20, entries, winners: result.winners }
  const run = (data: unknown): string => execFileSync(process.execPath, [script], { input: JSON.stringify(data), encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] })
  t.match(run(published), /^ok: 500 entries, 20 winners, as published/)
  const swapped = [...result.winners]
  swapped[0] = result.order[20] as string
  t.throws(() => run({ ...published, winners: swapped }), /not the draw's/, 'a runner-up put among the winners')
  t.throws(() => run({ ...published, seed: newDrawSeed() }), /does not match the commitment/, 'a seed changed after the commitment')
})
