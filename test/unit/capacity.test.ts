/** The capacity model (bench/capacity.ts): its arithmetic, and figures that were measured. */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { FIGURES, plan } from '../../bench/capacity'
import { repoPath } from '../../src/util/paths'

t.test('every figure the model rests on appears in bench/RESULTS.md, where a bench wrote it', async (t) => {
  const results = readFileSync(repoPath('bench', 'RESULTS.md'), 'utf8')
  for (const [name, f] of Object.entries(FIGURES)) {
    const start = results.indexOf(f.section)
    t.ok(start >= 0, `${name}: section ${f.section} exists`)
    // A generated section ends at its end marker; a written one at the next heading of its level.
    const end = f.section.startsWith('<!--') ? results.indexOf(f.section.replace(':start', ':end')) : results.indexOf('\n## ', start + 1)
    const text = results.slice(start, end < 0 ? undefined : end)
    const plain = String(f.value)
    const grouped = f.value.toLocaleString('en-US')
    t.ok(text.includes(plain) || text.includes(grouped), `${name}: ${grouped} is in that section`)
    t.match(f.source, /npm run bench/, `${name} names the bench that measured it`)
  }
})

t.test('counts: one machine\'s crowd, and the limits that do not scale out', async (t) => {
  const small = plan({ buyersPerSecond: 1000, units: 100, sales: 1, decideWithinSeconds: 10, overbook: 1.1 })
  t.equal(small.ingressProcesses, 1)
  t.equal(small.shardsPerSale, 1)
  t.equal(small.redisMasters, 1)
  t.equal(small.workerProcesses, 1)
  t.equal(small.mysqlPrimaries, 1)
  t.ok(Math.abs(small.gateSeconds - 0.11) < 1e-9, 'the gates close after 110 tickets at 1,000 a second')
  t.same(small.notes, [])

  const n = 10 * FIGURES.ingressAdmitted.value
  const big = plan({ buyersPerSecond: n, units: 20_000, sales: 1, decideWithinSeconds: 10, overbook: 1.1 })
  t.ok(big.ingressProcesses >= 10, `ten times one process's admissions need at least ten ingress processes (${big.ingressProcesses})`)
  t.equal(big.shardsPerSale, Math.ceil(n / FIGURES.redisAdmissions.value), 'a single sale is split over enough shards for its admissions')

  const huge = plan({ buyersPerSecond: 1000, units: 2_000_000, sales: 4, decideWithinSeconds: 10, overbook: 1.1 })
  t.equal(huge.ordersPerSecond, 200_000)
  t.equal(huge.mysqlPrimaries, Math.ceil(200_000 / FIGURES.mysqlRows.value))
  t.ok(huge.notes.some((note) => note.includes('partition orders by event')), 'past one primary, it says to partition')
})
