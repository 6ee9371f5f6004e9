/**
 * A local SMTP server that keeps what it receives: the mail relay of development and tests, started
 * by the service itself when SMTP_URL is not set (never in production). It listens on loopback
 * only, on a port of its own choosing, and keeps the last few mails in memory; in development each
 * one is also logged (the code is in the subject), which is how a developer reads it.
 */
import { SMTPServer } from 'smtp-server'
import type { AddressInfo } from 'node:net'

export interface CaughtMail {
  readonly to: string[]
  readonly subject: string
  readonly raw: string
  readonly at: number
}

export interface SmtpCatcher {
  /** smtp://127.0.0.1:<port>, for the mailer. */
  readonly url: string
  /** The mails caught, oldest first (at most KEEP). */
  readonly mails: readonly CaughtMail[]
  close: () => Promise<void>
}

const KEEP = 200
/** A code mail is a few hundred bytes; anything far larger is not the service's. */
const MAX_BYTES = 64 * 1024

export async function startSmtpCatcher (onMail?: (mail: CaughtMail) => void): Promise<SmtpCatcher> {
  const mails: CaughtMail[] = []
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    size: MAX_BYTES,
    logger: false,
    onData (stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => { chunks.push(c) })
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8')
        const subject = /^Subject: (.*)$/mi.exec(raw)?.[1]?.trim() ?? ''
        const mail: CaughtMail = { to: session.envelope.rcptTo.map((r) => r.address), subject, raw, at: Date.now() }
        mails.push(mail)
        if (mails.length > KEEP) mails.shift()
        onMail?.(mail)
        callback()
      })
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  const port = ((server as unknown as { server: { address: () => AddressInfo } }).server.address()).port
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    close: async () => { await new Promise<void>((resolve) => { server.close(() => resolve()) }) }
  }
}
