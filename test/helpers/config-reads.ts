import { loadConfig } from '../../src/config'

/** Every variable name `loadConfig` reads when given `env` (recorded through a Proxy). */
export function variablesRead (env: Record<string, string>): Set<string> {
  const read = new Set<string>()
  const recording = new Proxy(env, {
    get (target, name) { if (typeof name === 'string') read.add(name); return target[name as string] },
    has (target, name) { if (typeof name === 'string') read.add(name); return name in target }
  })
  try { loadConfig(recording) } catch { /* a refused setting still shows what was read */ }
  return read
}

/** What `loadConfig` reads under the settings that reach its conditional reads. */
export function allVariablesRead (): Set<string> {
  const read = new Set<string>()
  const settings: Array<Record<string, string>> = [
    {},
    { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40), ADMIN_EMAIL: 'ops@example.com', ADMIN_PASSWORD: 'a long operator password', REDIS_CLUSTER_NODES: '127.0.0.1:7000', METRICS_TOKEN: 'y'.repeat(40), TRUST_PROXY: '10.0.0.1' }
  ]
  for (const env of settings) for (const name of variablesRead(env)) read.add(name)
  return read
}
