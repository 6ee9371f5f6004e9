/** A private redis-server on a loopback port (no persistence), to restart in tests; stopped by PID. */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'

export interface PrivateRedis {
  readonly url: string
  /** Kills it (SIGKILL: everything in memory is lost) and starts it again on the same port. */
  restart: () => Promise<void>
  stop: () => Promise<void>
}

export async function startPrivateRedis (): Promise<PrivateRedis> {
  const port = 21000 + Math.floor(Math.random() * 9000)
  let child: ChildProcess | undefined
  const up = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
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
    async restart () { await down('SIGKILL'); await up() },
    async stop () { await down('SIGTERM') }
  }
}
