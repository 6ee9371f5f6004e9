// The import rules of .dependency-cruiser.cjs: every area (identity, catalog, stock, orders, sale)
// is reached through its front door, the stock module is the one owner of a sale's stock (nothing
// outside src/stock runs the scripts src/redis/script-registry.ts marks `owner: 'stock'`), HTTP
// routes never touch Redis, and no import cycle exists.
// Checked on the sources themselves, and shown to catch files that break them.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join, sep } from 'node:path'
import { repoPath } from '../../src/util/paths'
import { SCRIPTS, SCRIPT_NAMES } from '../../src/redis/script-registry'
import type { ScriptName } from '../../src/redis/script-registry'

interface Violation { readonly from: string, readonly to: string, readonly rule: { readonly name: string } }

function cruise (paths: readonly string[]): Violation[] {
  const run = spawnSync(process.execPath, [repoPath('node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs'), ...paths,
    '--config', '.dependency-cruiser.cjs', '--output-type', 'json'], { cwd: repoPath(), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  if (run.stdout === '') throw new Error(`depcruise: ${run.stderr}`)
  return (JSON.parse(run.stdout) as { summary: { violations: Violation[] } }).summary.violations
}

t.test('the sources keep the import rules', async (t) => {
  const violations = cruise(['src', 'workers', 'bench', 'ops'])
  t.same(violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`), [], 'no violation')
})

t.test('a file outside the stock module that imports a stock script breaks the rules', async (t) => {
  const violations = cruise(['src', 'workers', 'test/fixtures/stock-probe.ts'])
  const found = violations.filter((v) => v.from === 'test/fixtures/stock-probe.ts').map((v) => `${v.rule.name} ${v.to}`).sort()
  t.same(found, [
    'stock-scripts-are-the-stock-modules src/stock/scripts.ts',
    'stock-through-its-front-door src/stock/sale-state.ts',
    'stock-through-its-front-door src/stock/scripts.ts'
  ], 'both imports are caught')
})

t.test('a file that reaches past an area\'s front door, or a type-only cycle, breaks the rules', async (t) => {
  const probes = ['test/fixtures/area-probe.ts', 'test/fixtures/cycle-probe-a.ts', 'test/fixtures/cycle-probe-b.ts']
  const violations = cruise(['src', 'workers', ...probes])
  const found = violations.filter((v) => probes.includes(v.from)).map((v) => `${v.rule.name} ${v.from} -> ${v.to}`).sort()
  t.same(found, [
    'no-cycles test/fixtures/cycle-probe-a.ts -> test/fixtures/cycle-probe-b.ts',
    'orders-through-its-front-door test/fixtures/area-probe.ts -> src/orders/orders.ts',
    'sale-through-its-front-door test/fixtures/area-probe.ts -> src/sale/admission.ts'
  ], 'each is caught')
})

/** Scripts a file runs by name: `runScript(<client>, '<name>', ...)`, or by hand through `scriptCommand('<name>')` / `scriptArgv('<name>', ...)`. */
function scriptsRun (text: string): string[] {
  return [...text.matchAll(/\b(?:runScript\(\s*[^,()]+,|scriptCommand\(|scriptArgv\()\s*'(\w+)'/g)].map((m) => m[1] as string)
}

/** Every stock script run outside src/stock/, as "<file>: <script>". */
function stockScriptsRunOutside (files: readonly string[]): string[] {
  const offenders: string[] = []
  for (const file of files) {
    if (file.startsWith(`src${sep}stock${sep}`)) continue
    for (const name of scriptsRun(readFileSync(repoPath(file), 'utf8'))) {
      if (SCRIPTS[name as ScriptName]?.owner === 'stock') offenders.push(`${file}: ${name}`)
    }
  }
  return offenders
}

/** The .ts files under `dir` (relative to the repository). */
function tsFiles (dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(repoPath(dir))) {
    const path = join(dir, name)
    if (statSync(repoPath(path)).isDirectory()) out.push(...tsFiles(path))
    else if (name.endsWith('.ts')) out.push(path)
  }
  return out
}

const STOCK_SCRIPTS = SCRIPT_NAMES.filter((name) => SCRIPTS[name].owner === 'stock')

t.test('the stock module runs exactly the scripts the registry marks as its own', async (t) => {
  t.ok(STOCK_SCRIPTS.length >= 10, `the stock module's scripts (${STOCK_SCRIPTS.join(', ')})`)
  const run = new Set(tsFiles(join('src', 'stock')).flatMap((file) => scriptsRun(readFileSync(repoPath(file), 'utf8'))))
  t.same([...run].sort(), [...STOCK_SCRIPTS].sort(), 'src/stock runs each of them, and no other')
})

t.test('no code outside the stock module runs a stock script by name', async (t) => {
  const files = ['src', 'workers', 'bench', 'ops'].flatMap(tsFiles)
  t.ok(files.includes(join('src', 'stock', 'scripts.ts')), 'the stock module\'s own calls are among the files read')
  t.same(stockScriptsRunOutside(files), [], 'none')
  t.same(stockScriptsRunOutside([...files, join('test', 'fixtures', 'stock-script-probe.ts')]),
    [`${join('test', 'fixtures', 'stock-script-probe.ts')}: reserveStock`], 'a file that does is caught')
})
