/**
 * Loads every Lua script declared in src/redis/script-registry.ts from `lua/<name>.lua`, registers
 * it with `defineCommand` (as many keys as it declares), and runs it with its keys and arguments
 * given by name.
 *
 * A script is registered under `sk_<name>_<version>` where the version is a hash of its source, so
 * two releases sharing one Redis never run each other's scripts. The typed calls of
 * src/redis/commands.ts and src/stock/scripts.ts are the only way the rest of the code runs them.
 */
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Redis, Cluster } from 'ioredis'
import { repoPath } from '../util/paths'
import { inScriptSpan, tracingStarted } from '../tracing/spans'
import { SCRIPTS, SCRIPT_NAMES } from './script-registry'
import type { Arg, ScriptCall, ScriptName, ScriptReply, ScriptResult } from './script-registry'

export type RedisClient = Redis | Cluster
export { SCRIPT_NAMES }
export type { ScriptName, ScriptCall, ScriptResult }

interface LoadedScript {
  readonly name: ScriptName
  readonly command: string
  readonly keys: readonly string[]
  /** The fixed arguments' names. */
  readonly args: readonly string[]
  /** The variadic tail's name, if the script has one. */
  readonly rest: string | undefined
  readonly decode: (reply: ScriptReply) => unknown
  readonly lua: string
}

let loaded: Map<ScriptName, LoadedScript> | undefined

/** A script's source as Redis runs it: lua/<name>.lua, each `--@include "<file>"` line replaced by lua/includes/<file>. */
export function scriptSource (name: ScriptName): string {
  const dir = repoPath('lua')
  return readFileSync(join(dir, `${name}.lua`), 'utf8').replace(/^--@include "([A-Za-z0-9_-]+\.lua)"$/gm,
    (_line, inc: string) => readFileSync(join(dir, 'includes', inc), 'utf8'))
}

function loadScripts (): Map<ScriptName, LoadedScript> {
  if (loaded !== undefined) return loaded
  const known = new Set<string>(SCRIPT_NAMES)
  for (const file of readdirSync(repoPath('lua'))) {
    if (file.endsWith('.lua') && !known.has(file.slice(0, -'.lua'.length))) throw new Error(`lua/${file}: not a declared script (src/redis/script-registry.ts)`)
  }
  const found = new Map<ScriptName, LoadedScript>()
  for (const name of SCRIPT_NAMES) {
    const spec = SCRIPTS[name]
    const names = spec.args as readonly string[]
    const last = names[names.length - 1]
    const rest = last?.startsWith('...') === true ? last.slice(3) : undefined
    const args = rest === undefined ? names : names.slice(0, -1)
    if (args.some((a) => a.startsWith('...'))) throw new Error(`${name}: only the last argument may be variadic`)
    const lua = scriptSource(name)
    const version = createHash('sha1').update(lua).digest('hex').slice(0, 8)
    found.set(name, { name, command: `sk_${name}_${version}`, keys: spec.keys, args, rest, decode: spec.decode as (reply: ScriptReply) => unknown, lua })
  }
  loaded = found
  return found
}

function loadedScript (name: ScriptName): LoadedScript {
  const script = loadScripts().get(name)
  if (script === undefined) throw new Error(`unknown script ${name}`)
  return script
}

/** The client command a script is registered under (its name and a hash of its source). */
export function scriptCommand (name: ScriptName): string {
  return loadedScript(name).command
}

/** Registers every script on a client (idempotent per client). */
export function defineScripts (client: RedisClient): void {
  for (const script of loadScripts().values()) {
    if (typeof (client as unknown as Record<string, unknown>)[script.command] === 'function') continue
    client.defineCommand(script.command, { numberOfKeys: script.keys.length, lua: script.lua })
  }
}

/**
 * A call's KEYS then ARGV, in the declared order. Throws when a declared key or argument is
 * missing (a caller that gets round the types).
 */
function flatten (script: LoadedScript, call: { readonly keys: Readonly<Record<string, unknown>>, readonly args?: Readonly<Record<string, unknown>> }): Arg[] {
  const { keys, args } = call
  const tail = script.rest === undefined ? undefined : args?.[script.rest]
  if (script.rest !== undefined && !Array.isArray(tail)) throw new Error(`${script.name}: ARGV ...${script.rest} is not an array`)
  const nKeys = script.keys.length
  const nArgs = script.args.length
  const out = new Array<Arg>(nKeys + nArgs + (tail === undefined ? 0 : (tail as Arg[]).length))
  for (let i = 0; i < nKeys; i++) {
    const key = keys[script.keys[i] as string]
    if (typeof key !== 'string') throw new Error(`${script.name}: KEYS ${script.keys[i] as string} is missing`)
    out[i] = key
  }
  for (let i = 0; i < nArgs; i++) {
    const arg = args?.[script.args[i] as string]
    if (typeof arg !== 'string' && typeof arg !== 'number') throw new Error(`${script.name}: ARGV ${script.args[i] as string} is missing`)
    out[nKeys + i] = arg
  }
  if (tail !== undefined) {
    const values = tail as Arg[]
    for (let i = 0; i < values.length; i++) out[nKeys + nArgs + i] = values[i] as Arg
  }
  return out
}

/** A call's KEYS then ARGV as Redis receives them (for benchmarks that pipeline the command by hand). */
export function scriptArgv<N extends ScriptName> (name: N, call: ScriptCall<N>): Arg[] {
  return flatten(loadedScript(name), call)
}

/** Where a named ARGV entry stands in the script's KEYS then ARGV (for calls built once and reused). */
export function scriptArgIndex (name: ScriptName, arg: string): number {
  const script = loadedScript(name)
  const i = script.args.indexOf(arg)
  if (i < 0) throw new Error(`${name}: no ARGV ${arg}`)
  return script.keys.length + i
}

/** Runs a registered script with its keys and arguments by name; answers its decoded reply. */
export async function runScript<N extends ScriptName> (client: RedisClient, name: N, call: ScriptCall<N>): Promise<ScriptResult<N>> {
  return await runScriptArgv(client, name, flatten(loadedScript(name), call))
}

/** Runs a registered script with its KEYS then ARGV already in order (scriptArgv's, or a copy with entries set by scriptArgIndex). */
export async function runScriptArgv<N extends ScriptName> (client: RedisClient, name: N, argv: Arg[]): Promise<ScriptResult<N>> {
  const script = loadedScript(name)
  const fn = (client as unknown as Record<string, (argv: Arg[]) => Promise<ScriptReply>>)[script.command]
  if (fn === undefined) throw new Error(`${name}: scripts not defined on this client`)
  // One array argument: ioredis flattens a command's arguments one level, so this sends the same
  // command as spreading it, without copying it into a rest parameter first.
  const reply = tracingStarted() ? await inScriptSpan(name, async () => await fn.call(client, argv)) : await fn.call(client, argv)
  return script.decode(reply) as ScriptResult<N>
}
