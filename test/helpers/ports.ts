/** Loopback ports for the servers tests start, chosen by the OS so parallel tests never collide. */
import { createServer } from 'node:net'

/** A port nothing listens on now (the OS picked it; it stays free unless someone races for it). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const address = s.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      s.close(() => resolve(port))
    })
  })
}

/**
 * `n` distinct ports nothing listens on now: held open together while the OS picks them, so no
 * two are the same (one at a time, the OS may hand a closed port out again).
 */
export async function freePorts (n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer())
  try {
    return await Promise.all(servers.map(async (s) => await new Promise<number>((resolve, reject) => {
      s.once('error', reject)
      s.listen(0, '127.0.0.1', () => {
        const address = s.address()
        resolve(typeof address === 'object' && address !== null ? address.port : 0)
      })
    })))
  } finally {
    await Promise.all(servers.map(async (s) => await new Promise<void>((resolve) => { if (s.listening) s.close(() => resolve()); else resolve() })))
  }
}

/** A loopback port another listener holds for the rest of test `t` (a port a start must find taken). */
export async function takenPort (t: { teardown: (fn: () => void) => void }): Promise<number> {
  const taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { taken.close() })
  const address = taken.address()
  return typeof address === 'object' && address !== null ? address.port : 0
}
