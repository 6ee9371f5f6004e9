/**
 * What a person starting the service reads once it is ready: where the pages, the docs and the
 * metrics are, and how to get an admin. Written to stderr, apart from the JSON log on stdout;
 * under NODE_ENV=production nothing is written (the 'ingress listening' log line says where).
 */
import type { Config } from './config'

/** `address` as Fastify reports it (http://0.0.0.0:3000 when bound to every interface). */
export function startupBanner (config: Config, address: string | undefined): string {
  const lines = [`seckill is ready (${config.role === 'all' ? 'ingress and worker in one process' : config.role}, pid ${process.pid})`]
  if (address !== undefined) {
    const base = reachable(address)
    lines.push(
      `  Buyer page     ${base}/`,
      `  Operator page  ${base}/ops`,
      `  API docs       ${base}/docs`
    )
  }
  lines.push(config.metricsPort > 0
    ? `  Metrics        ${reachable(`http://${config.metricsHost}:${config.metricsPort}`)}/metrics`
    : '  Metrics        off (METRICS_PORT=0)')
  lines.push(config.adminEmail !== undefined
    ? `  Admin          ${config.adminEmail} (ADMIN_EMAIL)`
    : '  Admin          npm run create-admin -- <email> <password>, then sign in on the operator page')
  if (config.jwtSecret === undefined) lines.push('  Note           JWT_SECRET is not set: a development secret signs the tokens')
  lines.push('  Stop           Ctrl-C (finishes the batches in flight)')
  return `${lines.join('\n')}\n`
}

/** An address a browser on this machine can open: the wildcard hosts become localhost. */
function reachable (address: string): string {
  const u = new URL(address)
  if (u.hostname === '0.0.0.0' || u.hostname === '[::]') u.hostname = 'localhost'
  return u.origin
}
