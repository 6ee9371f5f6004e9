/**
 * What the pages need to know about the service before they show anything: the server's clock
 * (countdowns and payment deadlines run on it, not on the device's) and the currency prices are
 * charged in (prices are formatted with it for the buyer's locale). Public, cheap, no database.
 */
import type { FastifyInstance } from 'fastify'
import { ok, okSchema } from '../envelope'

export interface SiteRouteDeps {
  /** ISO 4217 code, lower case as configured (PAYMENT_CURRENCY; CNY under Alipay). */
  readonly currency: string
}

const siteSchema = {
  type: 'object',
  required: ['now', 'currency'],
  properties: {
    now: { type: 'integer', description: 'server time, ms since the epoch' },
    currency: { type: 'string', description: 'ISO 4217 code of every price, upper case' }
  }
}

export async function siteRoutes (app: FastifyInstance, deps: SiteRouteDeps): Promise<void> {
  const currency = deps.currency.toUpperCase()
  app.get('/site', { schema: { response: { 200: okSchema(siteSchema) } } }, async () => ok({ now: Date.now(), currency }))
}
