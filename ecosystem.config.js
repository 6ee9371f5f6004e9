/**
 * PM2: `npx pm2 start ecosystem.config.js` after `npm ci && npm run build`.
 *
 *   ingress  Fastify, cluster mode (stateless; scale with `pm2 scale ingress N`)
 *   worker   dispatcher + piscina pool, fork mode (shard leases move when you `pm2 scale worker N`)
 *
 * Each worker instance serves its metrics on METRICS_PORT + its instance number (increment_var).
 * Every other setting comes from the environment, as documented in the README.
 */
const common = {
  script: 'dist/src/server.js',
  // Graceful shutdown: stop admitting, finish batches in flight, close pools.
  kill_timeout: 20000,
  max_memory_restart: '1G',
  time: true
}

module.exports = {
  apps: [
    {
      ...common,
      name: 'ingress',
      exec_mode: 'cluster',
      instances: Number(process.env.INGRESS_INSTANCES || 1),
      env: { PROCESS_ROLE: 'ingress' }
    },
    {
      ...common,
      name: 'worker',
      exec_mode: 'fork',
      instances: Number(process.env.WORKER_INSTANCES || 1),
      increment_var: 'METRICS_PORT',
      env: {
        PROCESS_ROLE: 'worker',
        METRICS_PORT: Number(process.env.WORKER_METRICS_PORT || 9464),
        WORKER_THREADS: Number(process.env.WORKER_THREADS || 2)
      }
    }
  ]
}
