/** Service processes started by tests (to be killed and restarted like real ones). */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
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
