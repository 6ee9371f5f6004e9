// The Lua registry (src/redis/script-registry.ts) against the scripts in lua/: every file is
// declared and every declaration has its file, each header names the declared KEYS and ARGV in
// order, and no body reads past them. Shown to catch a drifted header (closeShard's, altered here). Also: the
// registered key counts, and the order in which a call's named keys and arguments reach Redis.
import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { SCRIPTS, SCRIPT_NAMES } from '../../src/redis/script-registry'
import type { ScriptName } from '../../src/redis/script-registry'
import { defineScripts, scriptArgv, scriptCommand, scriptSource } from '../../src/redis/scripts'
import type { RedisClient } from '../../src/redis/scripts'
import { allShardKeys, createKeySpace } from '../../src/redis/keys'
import { repoPath } from '../../src/util/paths'
import { bodyProblems, fileProblems, headerProblems } from '../helpers/lua-headers'

t.test('every script file in lua/ is declared, and every declared script has its file', async (t) => {
  t.ok(SCRIPT_NAMES.length >= 20, `${SCRIPT_NAMES.length} scripts declared`)
  t.same(fileProblems(readdirSync(repoPath('lua')), SCRIPT_NAMES), [], 'they match')
  t.same(fileProblems(['closeShard.lua', 'admitBuyer-21.lua', 'includes'], ['closeShard', 'admitBuyer']), [
    'lua/admitBuyer-21.lua is not declared',
    'admitBuyer is declared but lua/admitBuyer.lua is missing'
  ], 'a file left undeclared, and a declaration without its file, are caught')
})

t.test('each script\'s header names its declared KEYS and ARGV, in order', async (t) => {
  for (const name of SCRIPT_NAMES) {
    t.same(headerProblems(readFileSync(repoPath('lua', `${name}.lua`), 'utf8'), SCRIPTS[name]), [], name)
  }
})

t.test('a header that drifted from its declaration is caught', async (t) => {
  // lua/closeShard.lua's header as it reads once drifted: two keys swapped, the argument described
  // but not named.
  const drifted = readFileSync(repoPath('lua', 'closeShard.lua'), 'utf8')
    .replace(/KEYS\[2\] stock(.*)\n(\s*)KEYS\[3\] closed(.*)\n/, 'KEYS[2] closed$3\n$2KEYS[3] stock$1\n')
    .replace('ARGV[1] leaseToken', 'ARGV[1] lease')
  t.not(drifted, readFileSync(repoPath('lua', 'closeShard.lua'), 'utf8'), 'the header was changed')
  t.same(headerProblems(drifted, SCRIPTS.closeShard), [
    'KEYS #2: the header has KEYS[2] closed, the declaration KEYS[2] stock',
    'KEYS #3: the header has KEYS[3] stock, the declaration KEYS[3] closed',
    'ARGV #1: the header has ARGV[1] lease, the declaration ARGV[1] leaseToken'
  ], 'two keys swapped and an argument not named')
  t.same(headerProblems(readFileSync(repoPath('lua', 'closeShard.lua'), 'utf8'), { keys: SCRIPTS.closeShard.keys, args: ['leaseToken', '...more'] }), [
    'ARGV #2: the header has no line, the declaration ARGV[2..] more'
  ], 'a declared argument the header leaves out')
  t.same(headerProblems('--[[\n    KEYS[1] lease  str\n    KEYS[2..4] rest\n]]\n', { keys: ['lease'], args: [] }), [
    'unreadable header line: KEYS[2..4] rest'
  ], 'a line that names no key the check can read')
  t.same(headerProblems('return 1\n', { keys: [], args: [] }), ['no header comment (--[[ ... ]]) at the top'])
})

t.test('no script reads a KEYS entry past its keys, or an ARGV entry by number past its fixed arguments', async (t) => {
  for (const name of SCRIPT_NAMES) t.same(bodyProblems(scriptSource(name), SCRIPTS[name]), [], name)
  t.same(bodyProblems("--[[ KEYS[9] ]]\nredis.call('SET', KEYS[4], ARGV[2])\n", SCRIPTS.closeShard), [
    'reads KEYS[4], declares 3 keys',
    'reads ARGV[2], declares 1 fixed arguments'
  ], 'a body past its declaration is caught')
})

t.test('lua/resetMovedShard takes every key of a shard', async (t) => {
  const k = createKeySpace('x').shard({ eventId: 1, shard: 0 })
  const all = new Set(allShardKeys(k))
  const names = Object.entries(k).filter(([, key]) => all.has(key)).map(([name]) => name)
  t.same([...SCRIPTS.resetMovedShard.keys].sort(), names.sort(), 'the declared keys are allShardKeys')
  t.same(SCRIPTS.resetMovedShard.keys.slice(0, 2), ['node', 'stock'], 'node and stock first (the script reads them)')
})

t.test('each script is registered once, versioned, with as many keys as it declares', async (t) => {
  const defined = new Map<string, { numberOfKeys: number, lua: string }>()
  const client = { defineCommand: (name: string, d: { numberOfKeys: number, lua: string }) => { defined.set(name, d) } }
  defineScripts(client as unknown as RedisClient)
  t.equal(defined.size, SCRIPT_NAMES.length)
  for (const name of SCRIPT_NAMES) {
    const command = scriptCommand(name)
    t.match(command, new RegExp(`^sk_${name}_[0-9a-f]{8}$`), `${name}: named with a hash of its source`)
    t.equal(defined.get(command)?.numberOfKeys, SCRIPTS[name].keys.length, `${name}: ${SCRIPTS[name].keys.length} keys`)
    t.equal(defined.get(command)?.lua, scriptSource(name), `${name}: its source, includes taken in`)
  }
})

t.test('a call\'s named keys and arguments reach Redis in the declared order', async (t) => {
  t.same(scriptArgv('takeJobs', {
    keys: { jobPrefix: 'j:', active: 'a', wait: 'w', lease: 'l' },
    args: { settled: ['s1', 's2'], adopt: '1', count: 5, leaseToken: 'tok' }
  }), ['l', 'w', 'a', 'j:', 'tok', 5, '1', 's1', 's2'])
  t.same(scriptArgv('releaseStock', { keys: { reserved: 'r', stock: 's' }, args: { ticketIds: [] } }), ['s', 'r'], 'an empty tail')
  const k = createKeySpace('x').shard({ eventId: 1, shard: 0 })
  t.same(scriptArgv('closeShard', { keys: k, args: { leaseToken: 'tok' } }), [k.lease, k.stock, k.closed, 'tok'], 'a shard\'s keys object gives the keys by name')
  t.same(scriptArgv('resetMovedShard', { keys: k }).length, allShardKeys(k).length, 'every key of the shard; no arguments: none needed')
  // A caller that gets round the types is stopped before Redis sees the call.
  const loose = (name: ScriptName, call: unknown): unknown => scriptArgv(name, call as never)
  t.throws(() => loose('closeShard', { keys: { lease: 'l', stock: 's' }, args: { leaseToken: 'tok' } }), /closeShard: KEYS closed is missing/)
  t.throws(() => loose('closeShard', { keys: k, args: {} }), /closeShard: ARGV leaseToken is missing/)
  t.throws(() => loose('releaseStock', { keys: k, args: { ticketIds: 'a' } }), /releaseStock: ARGV \.\.\.ticketIds is not an array/)
})

// Compile-time checks: `npm run build` fails if any of these type-checks (never run).
export function typeChecks (k: ReturnType<ReturnType<typeof createKeySpace>['shard']>): void {
  // @ts-expect-error a key the script does not declare
  scriptArgv('closeShard', { keys: { lease: 'l', stock: 's', closed: 'c', pending: 'p' }, args: { leaseToken: 'tok' } })
  // @ts-expect-error a declared key left out
  scriptArgv('closeShard', { keys: { lease: 'l', stock: 's' }, args: { leaseToken: 'tok' } })
  // @ts-expect-error positional keys
  scriptArgv('closeShard', { keys: ['l', 's', 'c'], args: { leaseToken: 'tok' } })
  // @ts-expect-error an argument misnamed
  scriptArgv('closeShard', { keys: k, args: { token: 'tok' } })
  // @ts-expect-error a variadic tail given as one value
  scriptArgv('releaseStock', { keys: k, args: { ticketIds: 'a' } })
  // @ts-expect-error an argument where the script takes none
  scriptArgv('reopenShard', { keys: k, args: { now: 1 } })
  // @ts-expect-error not a script
  scriptArgv('noSuchScript', { keys: k })
}
