/** A throwaway 3-master Redis Cluster on loopback ports, for tests; stopped by PID. */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePorts } from './ports'

export interface LocalCluster {
  /** Every node, masters first (as created; a failover swaps roles, not this order). */
  readonly nodes: string[]
  /** The node that is master of `key`'s slot now. */
  masterOf: (key: string) => string
  /** Its replica (the cluster was started with replicas). */
  replicaOf: (master: string) => string
  /** Kills a node with SIGKILL (no shutdown, no last writes). */
  kill: (node: string) => void
  /** Waits until every live node reports cluster_state:ok and `key`'s slot has a master other than `not`. */
  waitForNewMaster: (key: string, not: string, ms: number) => Promise<string>
  stop: () => Promise<void>
}

/** A node that exited before it answered: its port was taken between the pick and its start. */
class NodeDidNotStart extends Error {}

/** Starts with fresh ports once more when a node could not start (its port taken meanwhile). */
const START_ATTEMPTS = 3

/**
 * `replicas` per master (0 or 1). `nodeTimeoutMs`: how long a silent master takes to be marked
 * failed and replaced by its replica (Redis's default is 15 s).
 */
export async function startLocalCluster (masters = 3, replicas = 0, nodeTimeoutMs = 15_000): Promise<LocalCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(masters, replicas, nodeTimeoutMs)
    } catch (err) {
      if (!(err instanceof NodeDidNotStart) || attempt >= START_ATTEMPTS) throw err
    }
  }
}

async function startOnce (masters: number, replicas: number, nodeTimeoutMs: number): Promise<LocalCluster> {
  const count = masters * (1 + replicas)
  // Each node's port and its cluster bus port, all distinct.
  const picked = await freePorts(2 * count)
  const ports = picked.slice(0, count)
  const busPorts = picked.slice(count)
  const dir = mkdtempSync(join(tmpdir(), 'sk-cluster-'))
  // The last of each node's output, for the error when one does not start.
  const output = new Map<number, string>()
  const children: ChildProcess[] = ports.map((port, i) => {
    const child = spawn('redis-server', [
      '--port', String(port), '--cluster-port', String(busPorts[i]), '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
      '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', String(nodeTimeoutMs),
      '--dir', dir, '--save', '', '--appendonly', 'no'
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    const keep = (d: Buffer): void => { output.set(port, ((output.get(port) ?? '') + d.toString()).slice(-1000)) }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    return child
  })
  const byNode = new Map(ports.map((p, i) => [`127.0.0.1:${p}`, children[i] as ChildProcess]))
  const alive = (): number[] => ports.filter((p) => { const c = byNode.get(`127.0.0.1:${p}`); return c !== undefined && c.exitCode === null && c.signalCode === null })
  const stop = async (): Promise<void> => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM')
    await Promise.all(children.map(async (c) => await new Promise((resolve) => { if (c.exitCode !== null || c.signalCode !== null) resolve(null); else c.once('exit', resolve) })))
    rmSync(dir, { recursive: true, force: true })
  }
  const masterOf = (key: string): string => {
    const port = alive()[0] as number
    const slot = Number(cli(port, 'cluster', 'keyslot', key))
    for (const line of cli(port, 'cluster', 'nodes').split('\n')) {
      const f = line.split(' ')
      if (!(f[2] ?? '').includes('master') || (f[2] ?? '').includes('fail')) continue
      for (const range of f.slice(8)) {
        const [from, to] = range.split('-').map(Number)
        if (slot >= (from as number) && slot <= (to ?? from as number)) return (f[1] ?? '').split('@')[0] as string
      }
    }
    throw new Error(`no master serves ${key}`)
  }
  try {
    for (const [i, port] of ports.entries()) {
      const child = children[i] as ChildProcess
      await waitFor(() => {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new NodeDidNotStart(`redis on ${port} exited before it answered (${child.exitCode ?? child.signalCode ?? ''}): ${output.get(port) ?? ''}`)
        }
        return cli(port, 'ping') === 'PONG'
      }, 10_000, `redis on ${port}`)
    }
    const created = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { encoding: 'utf8' })
    if (created.status !== 0) throw new Error(`cluster create failed: ${created.stdout}${created.stderr}`)
    for (const port of ports) await waitFor(() => cli(port, 'cluster', 'info').includes('cluster_state:ok'), 20_000, `cluster state on ${port}`)
    // Replicas in sync before anything is written (a replica promoted later must have the data).
    if (replicas > 0) for (const port of ports) await waitFor(() => !cli(port, 'info', 'replication').includes('role:slave') || cli(port, 'info', 'replication').includes('master_link_status:up'), 20_000, `replica on ${port}`)
  } catch (err) {
    await stop()
    throw err
  }
  return {
    nodes: ports.map((p) => `127.0.0.1:${p}`),
    masterOf,
    replicaOf (master) {
      const port = alive()[0] as number
      const lines = cli(port, 'cluster', 'nodes').split('\n').map((l) => l.split(' '))
      const id = lines.find((f) => (f[1] ?? '').split('@')[0] === master)?.[0]
      const replica = lines.find((f) => f[3] === id)
      if (id === undefined || replica === undefined) throw new Error(`${master} has no replica`)
      return (replica[1] ?? '').split('@')[0] as string
    },
    kill (node) {
      byNode.get(node)?.kill('SIGKILL')
    },
    async waitForNewMaster (key, not, ms) {
      let found = not
      await waitFor(() => {
        try {
          found = masterOf(key)
        } catch {
          return false
        }
        return found !== not && alive().every((p) => cli(p, 'cluster', 'info').includes('cluster_state:ok'))
      }, ms, `a new master for ${key}`)
      return found
    },
    stop
  }
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
