/** A TCP proxy in front of a real server, which a test can cut (refuse and drop) and restore. */
import { connect, createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import type { Test } from './tap-types'

export interface TcpProxy {
  readonly port: number
  /** Drops every connection and refuses new ones (the port stays bound). */
  cut: () => void
  restore: () => void
}

export async function tcpProxy (t: Test, targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>()
  let up = true
  const server: Server = createServer((client) => {
    if (!up) {
      client.destroy()
      return
    }
    const upstream = connect(targetPort, targetHost)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => { client.destroy(); upstream.destroy() })
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  return {
    port: (server.address() as { port: number }).port,
    cut () {
      up = false
      for (const s of sockets) s.destroy()
    },
    restore () {
      up = true
    }
  }
}
