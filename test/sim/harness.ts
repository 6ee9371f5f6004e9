/** One environment (database, key prefix, ingress) for many simulated sales. */
import { isolatedEnv } from '../helpers/env'
import { httpClient } from '../helpers/sale'
import { loadConfig } from '../../src/config'
import { startService } from '../../src/server'
import { createLogger } from '../../src/logger'
import { CatalogCache } from '../../src/catalog/catalog-cache'
import type { SimContext, SimModel, SimResult } from './simulation'
import { runSeed } from './simulation'
import { SimBus } from './ingress'
import { createDb } from '../../src/db/knex'
import { landInsideWith } from '../helpers/intercept'

export async function simulate (seeds: readonly number[], onResult?: (r: SimResult) => void, model?: SimModel): Promise<SimResult[]> {
  const { env, dispose } = await isolatedEnv({ GATE_OVERBOOK: '1.5', LOG_LEVEL: 'fatal', EVENT_CACHE_MS: '0' })
  const config = loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' })
  const service = await startService(config, createLogger(config.logLevel, 'sim'))
  const bus = new SimBus(env.redis, env.keys)
  await bus.start()
  // An action landing inside a caller that holds a MySQL lock it needs waits for it, as it would
  // in production: the caller goes on once the action waits (test/helpers/intercept.ts).
  const probe = createDb(env.config.databaseUrl, { poolMax: 1 })
  const database = new URL(env.config.databaseUrl).pathname.slice(1)
  const debug = process.env.SIM_DEBUG === '1'
    ? setInterval(() => {
      void probe.raw('SELECT t.trx_state, t.trx_started, t.trx_query, p.ID, p.COMMAND, p.TIME FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id WHERE p.DB = ?', [database])
        .then(([rows]: [unknown[]]) => { if (rows.length > 0) process.stderr.write(`trx ${JSON.stringify(rows)}\n`) })
    }, 3000)
    : undefined
  landInsideWith(async () => {
    // A lock wait InnoDB lists, or (MariaDB does not always list one) a statement that has run
    // for 300 ms: in this simulation every statement takes a few milliseconds unless it waits.
    const [rows] = await probe.raw(`SELECT CONCAT('t', t.trx_id) AS id FROM information_schema.INNODB_TRX t
      JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id WHERE t.trx_state = 'LOCK WAIT' AND p.DB = ?
      UNION SELECT CONCAT('p', ID) AS id FROM information_schema.PROCESSLIST
      WHERE DB = ? AND COMMAND = 'Query' AND TIME_MS > 300 AND ID <> CONNECTION_ID()`, [database, database]) as [Array<{ id: string }>]
    return rows.map((r) => r.id)
  })
  try {
    const rt = service.runtime
    const catalog = { events: rt.events, products: rt.products, sale: { redis: env.redis, keys: env.keys }, cache: new CatalogCache(0), changed: async () => {} }
    const ctx: SimContext = { env, http: httpClient(service.address as string), lifecycle: rt.lifecycle, events: rt.events, catalog, bus }
    const results: SimResult[] = []
    for (const seed of seeds) {
      const r = await runSeed(ctx, seed, model)
      results.push(r)
      onResult?.(r)
    }
    return results
  } finally {
    clearInterval(debug)
    landInsideWith(undefined)
    await probe.destroy()
    await bus.close()
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
