#!/usr/bin/env node
/**
 * `npm run build` (and so `npm start`, `npm test`): compiles only what changed.
 *
 * - The service (tsconfig.json) with tsc's incremental build: with nothing changed it only reads
 *   dist/.tsbuildinfo.
 * - The pages: type-checked incrementally (dist/.web.tsbuildinfo), and bundled by Vite only when a
 *   file of src/web differs from the last bundle (a hash of every input, kept in dist/web/.inputs).
 *
 * `npm run build -- --force` rebuilds everything. Plain JavaScript: it runs before anything is
 * compiled.
 */
'use strict'
const { execFileSync } = require('node:child_process')
const { createHash } = require('node:crypto')
const { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } = require('node:fs')
const { join } = require('node:path')

const root = join(__dirname, '..')
const force = process.argv.includes('--force')
const bin = (name) => join(root, 'node_modules', '.bin', name)
const run = (cmd, args) => execFileSync(bin(cmd), args, { cwd: root, stdio: 'inherit' })

if (force) {
  for (const f of ['dist/.tsbuildinfo', 'dist/.web.tsbuildinfo', 'dist/web/.inputs']) rmSync(join(root, f), { force: true })
}
const started = Date.now()
run('tsc', ['-p', 'tsconfig.json'])
run('tsc', ['-p', 'src/web/tsconfig.json'])

const webDir = join(root, 'src', 'web')
const stamp = join(root, 'dist', 'web', '.inputs')
const hash = createHash('sha256')
for (const name of readdirSync(webDir).sort()) {
  const file = join(webDir, name)
  if (!statSync(file).isFile()) continue // screenshots/ is not an input
  hash.update(name).update('\0').update(readFileSync(file)).update('\0')
}
// The bundler's version is an input too.
hash.update(readFileSync(join(root, 'node_modules', 'vite', 'package.json')))
const inputs = hash.digest('hex')
const bundled = existsSync(join(root, 'dist', 'web', 'index.html')) && existsSync(stamp) && readFileSync(stamp, 'utf8') === inputs
if (!bundled) {
  run('vite', ['build', '--config', 'src/web/vite.config.mjs'])
  writeFileSync(stamp, inputs)
}
process.stderr.write(`build: ${bundled ? 'pages unchanged, ' : ''}done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
