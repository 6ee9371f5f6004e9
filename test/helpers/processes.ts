/** Service processes started by tests (to be killed and restarted like real ones). */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { repoPath } from '../../src/util/paths'
import type { TestEnv } from './env'

export interface ServiceProcess {
  readonly child: ChildProcess
  /** Resolves with the signal or exit code when the process ends. */
  readonly exited: Promise<string>
  output: () => string
  stop: () => Promise<string>
}

export function spawnService (env: TestEnv, extra: Record<string, string>): ServiceProcess {
  const child = spawn(process.execPath, [repoPath('dist', 'src', 'server.js')], {
    env: { PATH: process.env.PATH ?? '', ...env.env, ...extra },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<string>((resolve) => {
    child.on('exit', (code, signal) => resolve(signal ?? String(code)))
  })
  const stop = async (): Promise<string> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    return await exited
  }
  env.defer(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  return { child, exited, output: () => out, stop }
}

export async function within<T> (ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no result in ${ms} ms`)), ms) })
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** A port nobody listens on now. */
export async function freePort (host = '127.0.0.1'): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Waits until a spawned service answers /readyz, or fails when it exits first. */
export async function whenReady (proc: ServiceProcess, base: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms
  let gone = false
  void proc.exited.then(() => { gone = true })
  while (Date.now() < deadline) {
    if (gone) throw new Error(`the service exited before it was ready:\n${proc.output()}`)
    const ok = await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false)
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`the service was not ready in ${ms} ms:\n${proc.output()}`)
}
