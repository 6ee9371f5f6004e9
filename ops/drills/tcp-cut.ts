/**
 * A TCP relay in front of a server that a drill can cut: while cut, every open connection is
 * dropped and new ones are refused (the port is closed), as when the server is stopped or a
 * firewall blocks its port. Used to take MySQL away from the service without stopping the
 * machine's shared MariaDB.
 */
import { connect, createServer } from 'node:net'
import type { Server, Socket } from 'node:net'

export class TcpCut {
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()

  constructor (readonly port: number, private readonly target: { host: string, port: number }) {}

  async open (): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host)
      for (const s of [client, upstream]) {
        this.sockets.add(s)
        s.on('close', () => this.sockets.delete(s))
        s.on('error', () => { client.destroy(); upstream.destroy() })
      }
      client.pipe(upstream)
      upstream.pipe(client)
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.port, '127.0.0.1', () => resolve())
    })
    this.server = server
  }

  /** Drops every connection and closes the port. */
  async cut (): Promise<void> {
    const server = this.server
    this.server = undefined
    for (const s of this.sockets) s.destroy()
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
