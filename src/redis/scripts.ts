/**
 * Every Lua script of the product, loaded once from `lua/` and registered with `defineCommand`.
 *
 * A script is registered under `<name>_<version>` where the version is a hash of its source, so
 * two releases sharing one Redis never run each other's scripts. Typed wrappers below are the only
 * way the rest of the code calls them.
 */
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Redis, Cluster } from 'ioredis'
import { repoPath } from '../util/paths'
import { inScriptSpan, tracingStarted } from '../tracing/spans'

export type RedisClient = Redis | Cluster

const SCRIPT_FILE = /^([a-zA-Z]+)-(\d+)\.lua$/

export const SCRIPT_NAMES = [
  'admitBuyer',
  'reserveStock',
  'borrowStock',
  'releaseStock',
  'finishTickets',
  'readTicket',
  'warmShard',
  'closeShard',
  'reopenShard',
  'applyReturn',
  'startEpoch',
  'rotateRefresh',
  'revokeRefresh',
  'renewLease',
  'releaseLease',
  'swapLease',
  'fenceBorrower',
  'takeJobs',
  'reserveQuota',
  'resetMovedShard'
] as const
export type ScriptName = typeof SCRIPT_NAMES[number]

interface LoadedScript {
  readonly command: string
  readonly numberOfKeys: number
  readonly lua: string
}

let loaded: Map<ScriptName, LoadedScript> | undefined

function loadScripts (): Map<ScriptName, LoadedScript> {
  if (loaded !== undefined) return loaded
  const dir = repoPath('lua')
  const found = new Map<ScriptName, LoadedScript>()
  for (const file of readdirSync(dir)) {
    const m = SCRIPT_FILE.exec(file)
    if (m === null) continue
    const name = m[1] as ScriptName
    if (!SCRIPT_NAMES.includes(name)) throw new Error(`lua/${file}: not a known script`)
    // `--@include "<file>"` lines take in a shared snippet from lua/includes/.
    const lua = readFileSync(join(dir, file), 'utf8').replace(/^--@include "([A-Za-z0-9_-]+\.lua)"$/gm,
      (_line, inc: string) => readFileSync(join(dir, 'includes', inc), 'utf8'))
    const version = createHash('sha1').update(lua).digest('hex').slice(0, 8)
    found.set(name, { command: `sk_${name}_${version}`, numberOfKeys: Number(m[2]), lua })
  }
  for (const name of SCRIPT_NAMES) {
    if (!found.has(name)) throw new Error(`lua/: script ${name} is missing`)
  }
  loaded = found
  return found
}

/** The client command a script is registered under (its name and a hash of its source). */
export function scriptCommand (name: ScriptName): string {
  const script = loadScripts().get(name)
  if (script === undefined) throw new Error(`unknown script ${name}`)
  return script.command
}

/** Registers every script on a client (idempotent per client). */
export function defineScripts (client: RedisClient): void {
  for (const script of loadScripts().values()) {
    if (typeof (client as unknown as Record<string, unknown>)[script.command] === 'function') continue
    client.defineCommand(script.command, { numberOfKeys: script.numberOfKeys, lua: script.lua })
  }
}

type Arg = string | number
type ScriptReply = number | string | null | ScriptReply[]

/** Runs a registered script; checks the number of keys so a caller cannot drift from the file. */
export async function runScript (client: RedisClient, name: ScriptName, keys: readonly string[], args: readonly Arg[]): Promise<ScriptReply> {
  const script = loadScripts().get(name)
  if (script === undefined) throw new Error(`unknown script ${name}`)
  if (keys.length !== script.numberOfKeys) {
    throw new Error(`${name}: expects ${script.numberOfKeys} keys, got ${keys.length}`)
  }
  const fn = (client as unknown as Record<string, (...a: Arg[]) => Promise<ScriptReply>>)[script.command]
  if (fn === undefined) throw new Error(`${name}: scripts not defined on this client`)
  if (!tracingStarted()) return await fn.call(client, ...keys, ...args)
  return await inScriptSpan(name, async () => await fn.call(client, ...keys, ...args))
}
