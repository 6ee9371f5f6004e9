/** A private redis-server on a loopback port, to restart in tests and drills; stopped by PID. */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from './ports'

export interface PrivateRedis {
  readonly url: string
  /**
   * Stops it and starts it again on the same port. `SIGKILL` (the default) loses whatever was not
   * persisted; `SIGTERM` is an orderly shutdown (an append-only file is flushed first).
   */
  restart: (signal?: NodeJS.Signals) => Promise<void>
  stop: () => Promise<void>
}

export interface PrivateRedisOptions {
  /** Append-only file with `appendfsync everysec`, in a temporary directory removed at stop. */
  readonly aof?: boolean
}

export async function startPrivateRedis (opts: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'seckill-redis-'))
  const persistence = opts.aof === true
    ? ['--appendonly', 'yes', '--appendfsync', 'everysec']
    : ['--appendonly', 'no']
  let child: ChildProcess | undefined
  const up = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, ...persistence], { stdio: 'ignore' })
    const deadline = Date.now() + 10_000
    while (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() !== 'PONG') {
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start`)
      await sleep(50)
    }
  }
  const down = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return
    const exited = new Promise((resolve) => c.once('exit', resolve))
    c.kill(signal)
    await exited
  }
  await up()
  return {
    url: `redis://127.0.0.1:${port}`,
    async restart (signal = 'SIGKILL') { await down(signal); await up() },
    async stop () {
      await down('SIGTERM')
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
