/**
 * Sends the service's few mails (email-verification codes) through SMTP with nodemailer: the
 * deployment's relay (SMTP_URL), or, in development and tests, the local catcher the service
 * starts itself (src/mail/smtp-catcher.ts), so `npm start` and `npm test` need nothing else.
 */
import { createTransport } from 'nodemailer'

export interface OutgoingMail {
  readonly to: string
  readonly subject: string
  readonly text: string
}

export interface Mailer {
  send: (mail: OutgoingMail) => Promise<void>
  close: () => void
}

export function smtpMailer (url: string, from: string): Mailer {
  // Short timeouts: a slow relay answers the request with 503 MAIL_UNAVAILABLE, never hangs it.
  const u = new URL(url)
  const transport = createTransport({
    host: u.hostname,
    port: Number(u.port === '' ? (u.protocol === 'smtps:' ? 465 : 587) : u.port),
    secure: u.protocol === 'smtps:',
    auth: u.username === '' ? undefined : { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) },
    connectionTimeout: 5000,
    greetingTimeout: 5000,
    socketTimeout: 10_000
  })
  return {
    async send (mail) {
      await transport.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text })
    },
    close () { transport.close() }
  }
}
