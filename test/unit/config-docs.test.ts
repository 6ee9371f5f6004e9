/**
 * The README's configuration table lists exactly the variables the service reads: each one
 * `loadConfig` looks at (recorded through the environment object it is given, under several
 * settings so conditional reads are seen) and nothing else, as the docs test does for routes.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { allVariablesRead } from '../helpers/config-reads'
import { repoPath } from '../../src/util/paths'

function readmeVariables (): Set<string> {
  const readme = readFileSync(repoPath('README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('\n## Configuration\n'), readme.indexOf('\n## ', readme.indexOf('\n## Configuration\n') + 5))
  const names = new Set<string>()
  for (const line of section.split('\n')) {
    const first = /^\| ([^|]+) \|/.exec(line)?.[1]
    if (first === undefined) continue
    for (const m of first.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) names.add(m[1] as string)
  }
  return names
}

t.test('README "Configuration" lists exactly the variables the service reads', async (t) => {
  const read = allVariablesRead()
  const documented = readmeVariables()
  t.ok(read.size > 30, `the recording saw the reads (${read.size})`)
  for (const name of [...read].sort()) t.ok(documented.has(name), `README documents ${name}`)
  for (const name of [...documented].sort()) t.ok(read.has(name), `the service reads ${name}, which the README documents`)
})
