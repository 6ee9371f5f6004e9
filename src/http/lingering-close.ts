/**
 * An answer given before the request's body has arrived (401 from the auth hook, 413 for a body
 * over the limit) waits until the body has been read, so the client reads the answer.
 *
 * Without this, Node closes the socket right after such an answer while the client is still
 * sending; the kernel answers the unread bytes with a reset and the client sees EPIPE or
 * ECONNRESET instead of the status (4 in 200 raw 2 MB posts with `Connection: close` here).
 * This is nginx's "lingering close", bounded: the rest of the body is read and thrown away for at
 * most LINGER_MS and LINGER_BYTES, then the answer goes out and the connection is closed.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'

const LINGER_MS = 2000
const LINGER_BYTES = 8 * 1024 * 1024

export function lingerUntilBodyRead (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: Error | null, payload: unknown) => void): void {
  const raw = request.raw
  if (raw.complete || raw.readableEnded || raw.destroyed) {
    done(null, payload)
    return
  }
  reply.header('connection', 'close')
  let seen = 0
  let finished = false
  const finish = (): void => {
    if (finished) return
    finished = true
    clearTimeout(timer)
    raw.off('data', onData)
    raw.off('end', finish)
    raw.off('close', finish)
    done(null, payload)
  }
  const onData = (chunk: Buffer): void => {
    seen += chunk.length
    if (seen > LINGER_BYTES) finish()
  }
  const timer = setTimeout(finish, LINGER_MS)
  raw.on('data', onData)
  raw.once('end', finish)
  raw.once('close', finish)
  raw.resume()
}
