/** Child processes of the benchmark: the baseline route and the service under test. */
import { spawn } from 'node:child_process'
import { createWriteStream, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { repoPath } from '../src/util/paths'
import { dropDatabase } from '../src/db/knex'
import { deleteKeysWithPrefix } from '../src/redis/client'
import { BENCH_PAYMENT_SETTINGS } from './payment-settings'

export interface Child {
  readonly process: ChildProcess
  readonly url: string
  stop: () => Promise<void>
  /** Resident memory of the process in bytes (from /proc), or 0 when unknown. */
  rss: () => number
}

function rssOf (pid: number | undefined): number {
  if (pid === undefined) return 0
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /VmRSS:\s+(\d+) kB/.exec(status)
    return m === null ? 0 : Number(m[1]) * 1024
  } catch {
    return 0
  }
}

function start (script: string, env: Record<string, string>, url: string, nodeArgs: string[] = []): Child {
  const child = spawn(process.execPath, [...nodeArgs, script], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  // The last of its output (the log is on stdout), shown if it exits abnormally.
  let err = ''
  const keep = (d: Buffer): void => { err = (err + d.toString()).slice(-4000) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  // BENCH_LOG_DIR: every child's whole output kept there too, one file per process.
  const logDir = process.env.BENCH_LOG_DIR
  if (logDir !== undefined && logDir !== '') {
    const file = createWriteStream(join(logDir, `${env.PROCESS_ROLE ?? 'service'}-${env.PORT ?? child.pid ?? 0}.log`))
    child.stdout?.pipe(file)
    child.stderr?.pipe(file)
  }
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM' && code !== null) process.stderr.write(`${script} exited ${code}: ${err}\n`)
  })
  return {
    process: child,
    url,
    rss: () => rssOf(child.pid),
    async stop () {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await Promise.race([exited, sleep(20_000)])
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
  }
}

async function waitReady (url: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url)
      // Read to the end: a response left unread keeps its connection busy at the server.
      await res.arrayBuffer()
      if (res.ok) return
    } catch { /* not up yet */ }
    await sleep(100)
  }
  throw new Error(`${url} not ready after ${ms} ms`)
}

/** With `redisUrl`, the baseline also serves `/one-lua` (one script call in that Redis); with `profileDir`, it writes a V8 CPU profile there on exit. */
export async function startBaseline (port: number, redisUrl?: string, profileDir?: string): Promise<Child> {
  const nodeArgs = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]
  const child = start(repoPath('dist', 'bench', 'baseline-server.js'), { PORT: String(port), ...(redisUrl === undefined ? {} : { REDIS_URL: redisUrl }) }, `http://127.0.0.1:${port}`, nodeArgs)
  await waitReady(`${child.url}/baseline`, 15_000)
  return child
}

/** Where the service comes from and how its node runs (a before/after in one bench). */
export interface ServiceBuild {
  /** Another checkout, built (default: this one, or BENCH_SERVICE_ROOT). */
  readonly root?: string
  /** Flags for the service's node (default: BENCH_NODE_ARGS, space-separated). */
  readonly nodeArgs?: readonly string[]
}

/**
 * With `profileDir`, the service writes a V8 CPU profile there when it exits. BENCH_NODE_ARGS
 * (space-separated) are given to the service's node, to compare its flags (`--max-semi-space-size=16`);
 * BENCH_SERVICE_ROOT runs the service of another checkout (built), for a before/after with one bench.
 */
export async function startService (port: number, env: Record<string, string>, profileDir?: string, readyPath = '/readyz', readyPort = port, build: ServiceBuild = {}): Promise<Child> {
  const extra = build.nodeArgs ?? (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
  const nodeArgs = [...extra, ...(profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`])]
  const root = build.root ?? process.env.BENCH_SERVICE_ROOT
  const script = root === undefined ? repoPath('dist', 'src', 'server.js') : join(root, 'dist', 'src', 'server.js')
  const child = start(script, { ...env, PORT: String(port), HOST: '127.0.0.1' }, `http://127.0.0.1:${port}`, nodeArgs)
  await waitReady(`http://127.0.0.1:${readyPort}${readyPath}`, 60_000)
  return child
}

/**
 * A clean slate for a bench's own sales: its database dropped (event ids restart with it, so the
 * Redis keys of the prefix must go too) and its Redis prefix's keys deleted.
 */
export async function cleanSlate (databaseUrl: string, redisUrl: string, prefix: string): Promise<void> {
  await dropDatabase(databaseUrl)
  const cleaner = new Redis(redisUrl)
  try {
    await deleteKeysWithPrefix(cleaner, `${prefix}:`)
  } finally {
    cleaner.disconnect()
  }
}

/** The service's settings under a bench: production, the bench's own database and prefix, limits a crowd from one address would hit lifted. */
export function benchServiceEnv (o: { databaseUrl: string, redisUrl: string, prefix: string, secret: string, logLevel: string }): Record<string, string> {
  return {
    NODE_ENV: 'production', ...BENCH_PAYMENT_SETTINGS, LOG_LEVEL: o.logLevel, REDIS_URL: o.redisUrl, REDIS_PREFIX: o.prefix, DATABASE_URL: o.databaseUrl, JWT_SECRET: o.secret,
    RATE_LIMIT_BUY: '1000000', RATE_LIMIT_POLL: '1000000', SHUTDOWN_DRAIN_MS: '0'
  }
}
