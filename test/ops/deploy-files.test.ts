import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { loadConfig } from '../../src/config'
import { createMetrics } from '../../src/metrics'
import { repoPath } from '../../src/util/paths'

/* eslint-disable @typescript-eslint/no-explicit-any -- parsed YAML and JSON are checked field by field */
const read = (path: string): string => readFileSync(repoPath(path), 'utf8')
const yamlOf = (path: string): any => parse(read(path), { merge: true })

/** Every environment variable src/config.ts reads. */
const KNOWN_ENV = new Set([...read('src/config.ts').matchAll(/r\.(?:str|optional|int|num|oneOf|url)(?:<[^>]+>)?\('([A-Z_]+)'/g)].map((m) => m[1] as string))

/** Names the metrics registry exposes, with histogram series. */
const METRIC_NAMES = (() => {
  const names = new Set<string>()
  for (const m of createMetrics('check').registry.getMetricsAsArray()) {
    const name = (m as unknown as { name: string }).name
    for (const suffix of ['', '_bucket', '_count', '_sum']) names.add(name + suffix)
  }
  return names
})()

function metricsIn (expr: string): string[] {
  return [...expr.matchAll(/\b(seckill_[a-z_]+)/g)].map((m) => m[1] as string)
}

t.test('docker-compose.yml: services, persistence, health, order, and settings the code accepts', async (t) => {
  const compose = yamlOf('docker-compose.yml')
  t.same(Object.keys(compose.services).sort(), ['grafana', 'ingress', 'mysql', 'prometheus', 'redis', 'worker'])
  const redis = compose.services.redis
  const cmd = (redis.command as string[]).join(' ')
  t.match(cmd, /--appendonly yes/, 'Redis keeps an AOF')
  t.match(cmd, /--appendfsync everysec/)
  t.match(cmd, /--maxmemory-policy noeviction/, 'Redis never evicts sale state')
  t.ok(redis.healthcheck !== undefined && compose.services.mysql.healthcheck !== undefined, 'health checks')
  t.match(compose.services.mysql.image, /^mysql:8/)

  const metricsPorts: Record<string, number> = {}
  for (const name of ['ingress', 'worker']) {
    const svc = compose.services[name]
    t.equal(svc.build, '.', `${name} is built from the Dockerfile`)
    t.same(svc.depends_on.redis, { condition: 'service_healthy' }, `${name} waits for Redis`)
    t.same(svc.depends_on.mysql, { condition: 'service_healthy' }, `${name} waits for MySQL`)
    const env = Object.fromEntries(Object.entries(svc.environment as Record<string, string>).map(([k, v]) => [k, String(v).replace(/\$\{JWT_SECRET[^}]*\}/, 'x'.repeat(40))]))
    for (const key of Object.keys(env)) t.ok(KNOWN_ENV.has(key), `${name}: ${key} is a setting the code reads`)
    const config = loadConfig(env)
    t.equal(config.role, name, `${name} runs as ${name}`)
    t.equal(config.nodeEnv, 'production')
    metricsPorts[name] = config.metricsPort
    if (name === 'ingress') t.same(svc.ports, [`${config.port}:${config.port}`], 'the API port is published')
  }
  t.same(compose.services.worker.depends_on.ingress, { condition: 'service_healthy' }, 'the worker starts after the ingress migrated')

  const prom = yamlOf('ops/prometheus.yml')
  const targets = prom.scrape_configs.flatMap((c: any) => c.static_configs.flatMap((s: any) => s.targets as string[]))
  t.same(targets.sort(), [`ingress:${metricsPorts.ingress ?? 0}`, `worker:${metricsPorts.worker ?? 0}`], 'Prometheus scrapes every process on its metrics port')
  const mounts: string[] = compose.services.prometheus.volumes
  t.ok(mounts.some((v) => v.startsWith('./ops/alerts.yml:')) && prom.rule_files.includes('/etc/prometheus/alerts.yml'), 'alert rules are mounted and loaded')
  for (const v of [...mounts, ...compose.services.grafana.volumes as string[]]) t.ok(existsSync(repoPath(v.split(':')[0] as string)), `${v.split(':')[0] ?? ''} exists`)
})

t.test('PM2 ecosystem and its Prometheus file agree on ports', async (t) => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ecosystem = require(repoPath('ecosystem.config.js')) as { apps: any[] }
  const byName = Object.fromEntries(ecosystem.apps.map((a) => [a.name, a]))
  t.equal(byName.ingress.exec_mode, 'cluster')
  t.equal(byName.worker.exec_mode, 'fork')
  for (const app of ecosystem.apps) t.ok(existsSync(repoPath(app.script)), `${app.name}: ${String(app.script)} is built`)
  const targets = yamlOf('ops/prometheus-pm2.yml').scrape_configs.flatMap((c: any) => c.static_configs.flatMap((s: any) => s.targets as string[]))
  t.same(targets, [`127.0.0.1:${String(byName.ingress.env.METRICS_PORT)}`, `127.0.0.1:${Number(byName.ingress.env.METRICS_PORT) + 1}`,
    `127.0.0.1:${String(byName.worker.env.METRICS_PORT)}`, `127.0.0.1:${Number(byName.worker.env.METRICS_PORT) + 1}`])
})

t.test('alerts and the dashboard only use metrics the service exposes', async (t) => {
  const rules = yamlOf('ops/alerts.yml').groups.flatMap((g: any) => g.rules)
  t.ok(rules.length >= 4, 'backlog, stuck tickets, error rate and lease flapping alerts')
  for (const r of rules) for (const m of metricsIn(r.expr)) t.ok(METRIC_NAMES.has(m), `alert ${String(r.alert)}: ${m} exists`)
  const dashboard = JSON.parse(read('ops/grafana/dashboards/seckill.json'))
  const titles = dashboard.panels.map((p: any) => p.title as string).join(' | ')
  for (const want of [/Admissions/, /decided/, /Queue depth/, /Drain rate/, /Latency/, /Remaining stock/]) t.match(titles, want)
  for (const p of dashboard.panels) for (const target of p.targets) for (const m of metricsIn(target.expr)) t.ok(METRIC_NAMES.has(m), `panel ${String(p.title)}: ${m} exists`)
})

t.test('Dockerfile: multi-stage, runs the built service as a non-root user', async (t) => {
  const lines = read('Dockerfile').split('\n')
  const froms = lines.filter((l) => l.startsWith('FROM '))
  t.ok(froms.length >= 2, 'a build stage and a runtime stage')
  const last = lines.slice(lines.lastIndexOf(froms[froms.length - 1] as string))
  t.ok(last.some((l) => /^USER node$/.test(l)), 'the runtime stage runs as node')
  t.ok(last.some((l) => l.startsWith('COPY') && l.includes('lua')), 'the Lua scripts ship')
  t.match(last.find((l) => l.startsWith('CMD')) ?? '', /dist\/src\/server\.js/)
  t.ok(last.some((l) => l.startsWith('HEALTHCHECK')), 'a health check')
})
