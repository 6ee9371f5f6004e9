/**
 * The local provider's webhook signature, shaped like Stripe's: `t=<unix seconds>,v1=<hex
 * HMAC-SHA256 of "<t>.<raw body>">`, checked in constant time within a tolerance, so a captured
 * webhook cannot be replayed later and a body cannot be changed.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { WebhookSignatureError } from './provider'

export const LOCAL_SIGNATURE_HEADER = 'local-pay-signature'
/** Seconds a signed webhook stays acceptable (Stripe's default). */
export const LOCAL_TOLERANCE_S = 300

export function signLocal (secret: string, body: string | Buffer, atSeconds = Math.floor(Date.now() / 1000)): string {
  const mac = createHmac('sha256', secret).update(`${atSeconds}.`).update(body).digest('hex')
  return `t=${atSeconds},v1=${mac}`
}

export function verifyLocal (secret: string, body: Buffer, header: string | string[] | undefined, nowSeconds = Math.floor(Date.now() / 1000)): void {
  if (typeof header !== 'string') throw new WebhookSignatureError('no signature header')
  const parts = new Map(header.split(',').map((kv) => { const i = kv.indexOf('='); return [kv.slice(0, i).trim(), kv.slice(i + 1).trim()] as const }))
  const t = Number(parts.get('t'))
  const given = parts.get('v1') ?? ''
  if (!Number.isInteger(t) || !/^[0-9a-f]{64}$/.test(given)) throw new WebhookSignatureError('malformed signature header')
  const expected = createHmac('sha256', secret).update(`${t}.`).update(body).digest()
  if (!timingSafeEqual(expected, Buffer.from(given, 'hex'))) throw new WebhookSignatureError('signature does not match')
  if (Math.abs(nowSeconds - t) > LOCAL_TOLERANCE_S) throw new WebhookSignatureError('timestamp outside the tolerance')
}
