/**
 * PM2: `npm ci && npm run build && npx pm2 start ecosystem.config.js`.
 *
 *   ingress  Fastify, cluster mode (stateless). Scale with `pm2 scale ingress N`; `pm2 reload
 *            ingress` replaces instances one by one and drops no request.
 *   worker   dispatcher + piscina pool, fork mode. `pm2 scale worker N` at any time: shard leases
 *            move between workers and no ticket is lost.
 *
 * Instances: INGRESS_INSTANCES (default 1), WORKER_INSTANCES (default 1); threads per worker:
 * WORKER_THREADS. Metrics: each ingress instance on INGRESS_METRICS_PORT (9400) + its instance
 * number, each worker on WORKER_METRICS_PORT (9464) + its instance number.
 * Every other setting comes from the environment, as documented in the README.
 * Descriptors: PM2's processes inherit the shell's limit; raise it (`ulimit -n 65536`) before
 * `pm2 start` so an ingress can hold MAX_WAITING long-polls.
 */
const common = {
  script: 'dist/src/server.js',
  cwd: __dirname,
  // Graceful shutdown: stop admitting, finish batches in flight, close pools.
  kill_timeout: 20000,
  max_memory_restart: '1G',
  time: true
}

// PM2 runs deployments: production (JWT_SECRET required, secrets checked, no banner) unless the
// shell says otherwise (NODE_ENV=development for a local try).
const production = { NODE_ENV: process.env.NODE_ENV || 'production' }

module.exports = {
  apps: [
    {
      ...common,
      name: 'ingress',
      exec_mode: 'cluster',
      instances: Number(process.env.INGRESS_INSTANCES || 1),
      // A reloaded instance gets traffic once it listens (it sends 'ready').
      wait_ready: true,
      listen_timeout: 30000,
      // In cluster mode the API port is shared; each instance's metrics have a port of their own.
      increment_var: 'METRICS_PORT',
      env: { ...production, PROCESS_ROLE: 'ingress', METRICS_PORT: Number(process.env.INGRESS_METRICS_PORT || 9400) }
    },
    {
      ...common,
      name: 'worker',
      exec_mode: 'fork',
      instances: Number(process.env.WORKER_INSTANCES || 1),
      increment_var: 'METRICS_PORT',
      env: {
        ...production,
        PROCESS_ROLE: 'worker',
        METRICS_PORT: Number(process.env.WORKER_METRICS_PORT || 9464),
        WORKER_THREADS: Number(process.env.WORKER_THREADS || 2)
      }
    }
  ]
}
