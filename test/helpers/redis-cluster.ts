/** A throwaway 3-master Redis Cluster on loopback ports, for tests; stopped by PID. */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from './ports'

export interface LocalCluster {
  readonly nodes: string[]
  stop: () => Promise<void>
}

export async function startLocalCluster (masters = 3): Promise<LocalCluster> {
  const ports: number[] = []
  const busPorts: number[] = []
  for (let i = 0; i < masters; i++) {
    ports.push(await freePort())
    busPorts.push(await freePort())
  }
  const dir = mkdtempSync(join(tmpdir(), 'sk-cluster-'))
  const children: ChildProcess[] = ports.map((port, i) => spawn('redis-server', [
    '--port', String(port), '--cluster-port', String(busPorts[i]), '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
    '--cluster-config-file', `nodes-${port}.conf`, '--dir', dir, '--save', '', '--appendonly', 'no'
  ], { stdio: 'ignore' }))
  const stop = async (): Promise<void> => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM')
    await Promise.all(children.map(async (c) => await new Promise((resolve) => { if (c.exitCode !== null || c.signalCode !== null) resolve(null); else c.once('exit', resolve) })))
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (const port of ports) await waitFor(() => cli(port, 'ping') === 'PONG', 10_000, `redis on ${port}`)
    const created = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8' })
    if (created.status !== 0) throw new Error(`cluster create failed: ${created.stdout}${created.stderr}`)
    for (const port of ports) await waitFor(() => cli(port, 'cluster', 'info').includes('cluster_state:ok'), 20_000, `cluster state on ${port}`)
  } catch (err) {
    await stop()
    throw err
  }
  return { nodes: ports.map((p) => `127.0.0.1:${p}`), stop }
}

function cli (port: number, ...args: string[]): string {
  return spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout.trim()
}

export function keysOnNode (node: string): number {
  return Number(cli(Number(node.split(':')[1]), 'dbsize'))
}

async function waitFor (check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}
