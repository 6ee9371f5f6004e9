#!/usr/bin/env node
/**
 * `npm run lint:commits` (run by .ci/run): the commits made since the habit was set down
 * (CONTRIBUTING.md) have a subject of at most 72 characters, and a blank line before any body.
 *
 * Only the commits after SINCE are read: the history before it is left as it was written. Merge
 * commits are skipped (git writes their subjects). Where SINCE is not in the clone (a shallow one,
 * or a rewritten history) there is nothing to compare against, and the check says so and passes.
 *
 * `node scripts/commit-subjects.js [<range>]` checks another range, for instance `origin/main..`.
 */
'use strict'
const { execFileSync } = require('node:child_process')
const { join } = require('node:path')

/** The last commit before the habit: every commit after it is checked. */
const SINCE = '210124e7e53dede6a01ede224abfb54e2b49ffc5'
const MAX = 72

const root = join(__dirname, '..')
const git = (...args) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })

let range = process.argv[2]
if (range === undefined) {
  try {
    git('cat-file', '-e', `${SINCE}^{commit}`)
  } catch {
    console.log(`commits: ${SINCE.slice(0, 7)} is not in this clone (shallow, or not a git checkout): nothing checked`)
    process.exit(0)
  }
  range = `${SINCE}..HEAD`
}

// One record per commit: hash, NUL, the raw message, then a record separator.
const log = git('log', '--no-merges', '--format=%H%x00%B%x1e', range)
const problems = []
let checked = 0
for (const record of log.split('\x1e')) {
  const text = record.replace(/^\n+/, '')
  if (text === '') continue
  const [hash, message] = text.split('\0')
  const lines = message.replace(/\n+$/, '').split('\n')
  const subject = lines[0]
  checked++
  const where = `${hash.slice(0, 7)} "${subject.length > 60 ? subject.slice(0, 57) + '...' : subject}"`
  if (subject.trim() === '') problems.push(`${where}: the subject is empty`)
  if (subject.length > MAX) problems.push(`${where}: the subject has ${subject.length} characters, at most ${MAX}`)
  if (lines.length > 1 && lines[1].trim() !== '') problems.push(`${where}: the second line is not blank (the body starts after a blank line)`)
}

if (problems.length > 0) {
  console.error(problems.join('\n'))
  console.error(`commits: ${problems.length} problem(s) in ${checked} commit(s) of ${range}; see CONTRIBUTING.md ("Commits"), and reword with git rebase -i`)
  process.exit(1)
}
console.log(`commits: ${checked} commit(s) of ${range} have subjects of at most ${MAX} characters`)
