/**
 * Checks a Lua script's header comment, and its body, against its declaration in
 * src/redis/script-registry.ts (test/unit/lua-registry.test.ts runs them on every script, and on
 * fixtures that drifted). Each returns the problems found, [] when none.
 */

export interface Declared {
  readonly keys: readonly string[]
  readonly args: readonly string[]
}

const ITEM = /^(KEYS|ARGV)\[(\d+)(\.\.)?\]\s+([A-Za-z_][A-Za-z0-9_]*)(?:\s|$)/

/** The script's leading `--[[ ... ]]` comment, or undefined. */
function header (source: string): string | undefined {
  return /^--\[\[([\s\S]*?)\]\]/.exec(source)?.[1]
}

/**
 * The header names each key on a line `KEYS[i] name ...` and each argument on a line
 * `ARGV[i] name ...` (`ARGV[i..] name` for a variadic tail): the names, in order, must be the
 * declared ones, and no other line of the header may start with `KEYS[` or `ARGV[`.
 */
export function headerProblems (source: string, declared: Declared): string[] {
  const text = header(source)
  if (text === undefined) return ['no header comment (--[[ ... ]]) at the top']
  const problems: string[] = []
  const found: Record<'KEYS' | 'ARGV', string[]> = { KEYS: [], ARGV: [] }
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (!line.startsWith('KEYS[') && !line.startsWith('ARGV[')) continue
    const m = ITEM.exec(line)
    if (m === null) {
      problems.push(`unreadable header line: ${line}`)
      continue
    }
    const [, kind, index, variadic, name] = m as unknown as [string, 'KEYS' | 'ARGV', string, string | undefined, string]
    found[kind].push(`${kind}[${index}${variadic ?? ''}] ${name}`)
  }
  const expected: Record<'KEYS' | 'ARGV', string[]> = {
    KEYS: declared.keys.map((name, i) => `KEYS[${i + 1}] ${name}`),
    ARGV: declared.args.map((name, i) => name.startsWith('...') ? `ARGV[${i + 1}..] ${name.slice(3)}` : `ARGV[${i + 1}] ${name}`)
  }
  for (const kind of ['KEYS', 'ARGV'] as const) {
    const n = Math.max(found[kind].length, expected[kind].length)
    for (let i = 0; i < n; i++) {
      const has = found[kind][i]
      const wants = expected[kind][i]
      if (has !== wants) problems.push(`${kind} #${i + 1}: the header has ${has ?? 'no line'}, the declaration ${wants ?? 'nothing'}`)
    }
  }
  return problems
}

/**
 * The body (with its includes, comments left out) reads no KEYS[i] past the declared keys, and no
 * ARGV[i] by a literal index past the fixed arguments (a variadic tail is read with computed
 * indexes).
 */
export function bodyProblems (lua: string, declared: Declared): string[] {
  const code = lua.replace(/--\[\[[\s\S]*?\]\]/g, '').replace(/--.*$/gm, '')
  const fixedArgs = declared.args.filter((a) => !a.startsWith('...')).length
  const problems = new Set<string>()
  for (const m of code.matchAll(/KEYS\[(\d+)\]/g)) {
    if (Number(m[1]) > declared.keys.length) problems.add(`reads KEYS[${m[1] ?? ''}], declares ${declared.keys.length} keys`)
  }
  for (const m of code.matchAll(/ARGV\[(\d+)\]/g)) {
    if (Number(m[1]) > fixedArgs) problems.add(`reads ARGV[${m[1] ?? ''}], declares ${fixedArgs} fixed arguments`)
  }
  return [...problems]
}

/** Every `<name>.lua` file is a declared script, and every declared script has its file. */
export function fileProblems (files: readonly string[], declared: readonly string[]): string[] {
  const scripts = files.filter((f) => f.endsWith('.lua')).map((f) => f.slice(0, -'.lua'.length))
  return [
    ...scripts.filter((s) => !declared.includes(s)).map((s) => `lua/${s}.lua is not declared`),
    ...declared.filter((s) => !scripts.includes(s)).map((s) => `${s} is declared but lua/${s}.lua is missing`)
  ]
}
