/** Paying for won orders in tests: winning orders, starting payments, signed local webhooks. */
import { randomBytes } from 'node:crypto'
import type { Service } from '../../src/server'
import { LOCAL_SIGNATURE_HEADER, localWebhookSecret, signLocal } from '../../src/orders/payments/index'
import { parsePrometheus, sum } from './prometheus'
import { pool, saleIdle, until } from './sale'
import type { Http } from './sale'
import type { TestEnv } from './env'
import { TEST_SECRET } from './env'

/** Users buy one unit each; resolves to user → order id of the winners. */
export async function winOrders (http: Http, env: TestEnv, eventId: number, users: number[]): Promise<Map<number, string>> {
  const tickets = await pool(users, 20, async (u) => (await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) })).body.data.ticket_id as string)
  await until(async () => await saleIdle(env, eventId, 1), 20_000, 'the drain')
  const orders = new Map<number, string>()
  await Promise.all(users.map(async (u, i) => {
    const r = await http.request('GET', `/api/v1/tickets/${tickets[i] ?? ''}`, { token: env.token(u) })
    if (r.body.data.status === 'won') orders.set(u, r.body.data.order_id as string)
  }))
  return orders
}

export interface LocalEvent { id: string, type: string, created: number, data: Record<string, unknown> }

/** A local provider event, signed as the provider signs it (or with what `sign` gives). */
export function localWebhook (env: TestEnv, event: LocalEvent, opts: { secret?: string, at?: number } = {}): { body: string, headers: Record<string, string> } {
  const body = JSON.stringify(event)
  const secret = opts.secret ?? localWebhookSecret(env.config.payments, TEST_SECRET)
  return { body, headers: { 'content-type': 'application/json', [LOCAL_SIGNATURE_HEADER]: signLocal(secret, body, opts.at) } }
}

export const eventId = (): string => `evt_${randomBytes(12).toString('hex')}`

export async function postWebhook (http: Http, hook: { body: string, headers: Record<string, string> }, provider = 'local'): Promise<{ status: number, body: any }> {
  const res = await fetch(`${http.base}/api/v1/payments/webhooks/${provider}`, { method: 'POST', headers: hook.headers, body: hook.body })
  const text = await res.text()
  let body: unknown = text
  try { body = JSON.parse(text) } catch { /* not JSON */ }
  return { status: res.status, body }
}

export async function orderStatus (env: TestEnv, id: string | number): Promise<string> {
  return (await env.db('orders').first('status').where({ id }) as { status: string }).status
}

export async function paymentRow (env: TestEnv, orderId: string | number): Promise<{ id: number, status: string, late: string | null, refunded_cents: number, amount_cents: number, provider_ref: string }> {
  return await env.db('payments').first('*').where({ order_id: orderId })
}

export async function metric (service: Service, name: string, where: Record<string, string> = {}): Promise<number> {
  return sum(parsePrometheus(await service.runtime.metrics.registry.metrics()), name, where)
}
