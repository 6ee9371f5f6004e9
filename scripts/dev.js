#!/usr/bin/env node
/**
 * `npm run dev`: the service in one process (PROCESS_ROLE=all) for development. It builds once,
 * then keeps three things running until Ctrl-C:
 *
 * - tsc in watch mode, recompiling the service into dist/ as files change;
 * - Vite rebuilding the pages into dist/web as src/web changes;
 * - node --watch on the compiled service, restarting it when its compiled files change, its log
 *   made readable by pino-pretty.
 *
 * Same settings as `npm start` (the environment, README "Configuration").
 */
'use strict'
const { execFileSync, spawn } = require('node:child_process')
const { join } = require('node:path')

const root = join(__dirname, '..')
const bin = (name) => join(root, 'node_modules', '.bin', name)

execFileSync(process.execPath, [join(__dirname, 'build.js')], { cwd: root, stdio: 'inherit' })

const children = []
// Each child in a process group of its own: Ctrl-C reaches this script alone, which stops the
// service once (a second signal would cut its graceful stop short), then the rest.
const start = (cmd, args, stdio) => {
  const child = spawn(cmd, args, { cwd: root, stdio, env: process.env, detached: true })
  children.push(child)
  return child
}
start(bin('tsc'), ['-p', 'tsconfig.json', '--watch', '--preserveWatchOutput'], ['ignore', 'inherit', 'inherit'])
start(bin('vite'), ['build', '--watch', '--config', 'src/web/vite.config.mjs'], ['ignore', 'ignore', 'inherit'])
const service = start(process.execPath, ['--watch', join('dist', 'src', 'server.js')], ['inherit', 'pipe', 'inherit'])
const pretty = start(bin('pino-pretty'), ['--translateTime', 'SYS:HH:MM:ss.l', '--ignore', 'pid,hostname,role'], ['pipe', 'inherit', 'inherit'])
service.stdout.pipe(pretty.stdin)

let stopping = false
const stop = () => {
  if (stopping) return
  stopping = true
  // The service first, so it can finish its batches; pino-pretty ends with its input.
  service.once('exit', () => { for (const c of children) if (c !== pretty) c.kill('SIGTERM') })
  service.kill('SIGTERM')
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
// Whatever ends this script, nothing it started is left behind.
process.on('exit', () => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL') })
for (const c of children) c.on('exit', (code) => { if (!stopping && c !== service) { process.stderr.write(`dev: ${c.spawnargs.join(' ')} exited (${code})\n`); stop() } })
