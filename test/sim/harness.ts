/** One environment (database, key prefix, ingress) for many simulated sales. */
import { isolatedEnv } from '../helpers/env'
import { httpClient } from '../helpers/sale'
import { loadConfig } from '../../src/config'
import { startService } from '../../src/server'
import { createLogger } from '../../src/logger'
import { CatalogCache } from '../../src/domain/catalog-cache'
import type { SimContext, SimModel, SimResult } from './simulation'
import { runSeed } from './simulation'

export async function simulate (seeds: readonly number[], onResult?: (r: SimResult) => void, model?: SimModel): Promise<SimResult[]> {
  const { env, dispose } = await isolatedEnv({ GATE_OVERBOOK: '1.5', LOG_LEVEL: 'fatal', EVENT_CACHE_MS: '0' })
  const config = loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' })
  const service = await startService(config, createLogger(config.logLevel, 'sim'))
  try {
    const rt = service.runtime
    const catalog = { events: rt.events, products: rt.products, sale: { redis: env.redis, keys: env.keys }, cache: new CatalogCache(0), changed: async () => {} }
    const ctx: SimContext = { env, http: httpClient(service.address as string), lifecycle: rt.lifecycle, events: rt.events, catalog }
    const results: SimResult[] = []
    for (const seed of seeds) {
      const r = await runSeed(ctx, seed, model)
      results.push(r)
      onResult?.(r)
    }
    return results
  } finally {
    await service.stop()
    await dispose()
  }
}

/** Breaks by kind ("I4", "pending", ...), for the summary. */
export function breakKinds (results: readonly SimResult[]): Record<string, number> {
  const kinds: Record<string, number> = {}
  for (const r of results) {
    for (const p of r.problems) {
      const kind = /^(I\d)/.exec(p)?.[1] ?? p.replace(/[0-9]+/g, 'N').slice(0, 60)
      kinds[kind] = (kinds[kind] ?? 0) + 1
    }
  }
  return kinds
}
