/**
 * Behind a proxy without TRUST_PROXY, every client has the proxy's address: one client at a
 * request a second then spends the per-address sign-in limit for everyone, and can lock accounts
 * (issue 30, item 4). Fastify cannot tell on its own, so production says so: at start when it runs
 * in Kubernetes (its pods sit behind a Service or an ingress controller), and at the first request
 * that arrives with `X-Forwarded-For` from an untrusted peer. Each warning is logged once.
 */
import type { FastifyInstance } from 'fastify'

interface Warner { warn: (obj: object, msg: string) => void }

export const PROXY_WARNING = 'requests come through a proxy but TRUST_PROXY is not set: every client counts as the proxy\'s address ' +
  'for the per-address limits (sign-in, registration, catalog reads); set TRUST_PROXY to the proxy\'s addresses or CIDRs'

/** At start: a production process in Kubernetes without TRUST_PROXY. */
export function warnAtStart (config: { nodeEnv: string, trustProxy: false | readonly string[], inKubernetes: boolean }, log: Warner): boolean {
  if (config.nodeEnv !== 'production' || config.trustProxy !== false || !config.inKubernetes) return false
  log.warn({ setting: 'TRUST_PROXY', kubernetes: true }, PROXY_WARNING)
  return true
}

/** In production without TRUST_PROXY: warns once when a request carries X-Forwarded-For. */
export function watchForUntrustedProxy (app: FastifyInstance, config: { nodeEnv: string, trustProxy: false | readonly string[] }, log: Warner): void {
  if (config.nodeEnv !== 'production' || config.trustProxy !== false) return
  let warned = false
  app.addHook('onRequest', async (request) => {
    if (warned || request.headers['x-forwarded-for'] === undefined) return
    warned = true
    log.warn({ setting: 'TRUST_PROXY', peer: request.socket.remoteAddress }, PROXY_WARNING)
  })
}
