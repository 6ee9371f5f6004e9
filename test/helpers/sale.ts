/** Creating sales and driving crowds in tests, over the real HTTP API. */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Service } from '../../src/server'
import { startService } from '../../src/server'
import { createLogger } from '../../src/logger'
import { eventDecided } from '../../src/stock/sale-state'
import type { TestEnv } from './env'

export interface Http {
  readonly base: string
  request: (method: string, path: string, opts?: { token?: string, body?: unknown, headers?: Record<string, string> }) => Promise<{ status: number, body: any, headers: Headers }>
}

export async function startTestService (env: TestEnv, config = env.config): Promise<{ service: Service, http: Http }> {
  const service = await startService(config, createLogger(config.logLevel, 'test'))
  env.defer(async () => { await service.stop() })
  const base = service.address as string
  return { service, http: httpClient(base) }
}

export function httpClient (base: string): Http {
  return {
    base,
    async request (method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers }
      if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`
      let body: string | undefined
      if (opts.body !== undefined) {
        headers['content-type'] = 'application/json'
        body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body)
      }
      const res = await fetch(base + path, { method, headers, body })
      const text = await res.text()
      let parsed: unknown = text
      try { parsed = JSON.parse(text) } catch { /* not JSON */ }
      return { status: res.status, body: parsed, headers: res.headers }
    }
  }
}

export interface SaleSpec {
  stock: number
  shards?: number
  startInMs?: number
  durationMs?: number
  /** More fields of the event (`waitlist`, `mode`, ...). */
  fields?: Record<string, unknown>
}

/** Creates a product and an event through the admin API; returns the event id. */
export async function createSale (http: Http, env: TestEnv, spec: SaleSpec): Promise<number> {
  const admin = env.token(1, 'admin')
  const product = await http.request('POST', '/api/v1/admin/products', { token: admin, body: { title: 'Limited sneaker', price_cents: 19900 } })
  if (product.status !== 201) throw new Error(`create product: ${product.status} ${JSON.stringify(product.body)}`)
  const start = Date.now() + (spec.startInMs ?? -1000)
  const event = await http.request('POST', '/api/v1/admin/events', {
    token: admin,
    body: {
      product_id: product.body.data.id,
      title: 'Flash drop',
      price_cents: 9900,
      stock: spec.stock,
      shards: spec.shards ?? 1,
      start_at: new Date(start).toISOString(),
      end_at: new Date(start + (spec.durationMs ?? 3_600_000)).toISOString(),
      ...spec.fields
    }
  })
  if (event.status !== 201) throw new Error(`create event: ${event.status} ${JSON.stringify(event.body)}`)
  return event.body.data.id as number
}

/** Runs `fn` over `items` with at most `concurrency` in flight. */
export async function pool<T, R> (items: readonly T[], concurrency: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i] as T, i)
    }
  }))
  return out
}

/** Waits until `check` holds, polling; fails after `ms`. */
export async function until (check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(50)
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`)
}

/** True once every shard of the event has decided every admitted ticket. */
export async function saleIdle (env: TestEnv, eventId: number, shards: number): Promise<boolean> {
  return await eventDecided(env, { id: eventId, shards })
}

/** True once every unit that came back to the event (unit_returns) has been applied by its shard's owner. */
export async function returnsApplied (env: TestEnv, eventId: number): Promise<boolean> {
  const row = await env.db('unit_returns').where({ event_id: eventId }).whereNull('applied_at').count({ n: '*' }).first() as { n: number | string }
  return Number(row.n) === 0
}
