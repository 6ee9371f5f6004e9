import t from 'tap'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { spawn, spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../helpers/ports'
import { parse } from 'yaml'
import { loadConfig } from '../../src/config'
import { createMetrics } from '../../src/metrics'
import { repoPath } from '../../src/util/paths'

// Parsed YAML and JSON are typed `any` here: the tests check them field by field.
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

/** The secrets compose requires, with sample values (URL-safe, as the file asks). */
const SECRETS: Record<string, string> = {
  // Production refuses low-variety secrets (40 × `x` was one): a sample that could be random.
  JWT_SECRET: 'k3Jq9vX2-mT7wP4z_R8sN1cY6bH0fD5gL',
  STRIPE_SECRET_KEY: 'sk_live_sample',
  STRIPE_WEBHOOK_SECRET: 'whsec_Q7vK2mX9pL4tR8nB3cW6yF1hJ5dZ0sGa',
  REDIS_PASSWORD: 'redis-sample-password-1f2e3d',
  MYSQL_ROOT_PASSWORD: 'root-sample-password-4c5b6a',
  MYSQL_PASSWORD: 'mysql-sample-password-7a8b9c',
  GRAFANA_ADMIN_PASSWORD: 'grafana-sample-password-0d1e'
}

/** Compose's `${NAME:?message}` interpolation, with the sample secrets. */
function interpolate (value: string): string {
  return value.replace(/\$\{([A-Z_]+)[^}]*\}/g, (_m, name: string) => {
    const v = SECRETS[name]
    if (v === undefined) throw new Error(`compose reads \${${name}}, which this test does not know`)
    return v
  })
}

function metricsIn (expr: string): string[] {
  return [...expr.matchAll(/\b(seckill_[a-z_]+)/g)].map((m) => m[1] as string)
}

t.test('docker-compose.yml: services, persistence, health, order, and settings the code accepts', async (t) => {
  const compose = yamlOf('docker-compose.yml')
  t.same(Object.keys(compose.services).sort(), ['grafana', 'ingress', 'jaeger', 'mysql', 'prometheus', 'redis', 'worker'])
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
    const env = Object.fromEntries(Object.entries(svc.environment as Record<string, string>).map(([k, v]) => [k, interpolate(String(v))]))
    for (const key of Object.keys(env)) t.ok(KNOWN_ENV.has(key), `${name}: ${key} is a setting the code reads`)
    const config = loadConfig(env)
    t.equal(config.role, name, `${name} runs as ${name}`)
    t.equal(config.nodeEnv, 'production')
    metricsPorts[name] = config.metricsPort
    if (name === 'ingress') t.same(svc.ports, [`${config.port}:${config.port}`], 'the API port is published')
  }
  t.same(compose.services.worker.depends_on.ingress, { condition: 'service_healthy' }, 'the worker starts after the ingress migrated')
  // Traces: both processes export to the Jaeger service over OTLP/HTTP, which accepts it there.
  for (const name of ['ingress', 'worker']) {
    const env = Object.fromEntries(Object.entries(compose.services[name].environment as Record<string, string>).map(([k, v]) => [k, interpolate(String(v))]))
    const tracing = loadConfig(env).tracing
    t.equal(tracing.exporter, 'otlp', `${name} exports traces`)
    const endpoint = new URL(tracing.endpoint)
    t.equal(endpoint.hostname, 'jaeger', `${name} sends them to the jaeger service`)
    t.ok((compose.services.jaeger.expose as string[]).includes(endpoint.port), `jaeger listens on ${endpoint.port} (OTLP/HTTP)`)
    t.ok(tracing.samplerRatio > 0 && tracing.samplerRatio < 1 && tracing.sampler === 'parentbased_traceidratio', `${name} keeps a fraction of the traces`)
  }
  t.equal(compose.services.jaeger.environment.COLLECTOR_OTLP_ENABLED, 'true', 'Jaeger takes OTLP')
  t.match(compose.services.jaeger.image, /^jaegertracing\/all-in-one:\d/)
  t.same(compose.services.ingress.ulimits?.nofile, { soft: 65536, hard: 65536 }, 'the ingress may hold many waiting long-polls (descriptors)')

  const prom = yamlOf('ops/prometheus.yml')
  const targets = prom.scrape_configs.flatMap((c: any) => c.static_configs.flatMap((s: any) => s.targets as string[]))
  t.same(targets.sort(), [`ingress:${metricsPorts.ingress ?? 0}`, `worker:${metricsPorts.worker ?? 0}`], 'Prometheus scrapes every process on its metrics port')
  const mounts: string[] = compose.services.prometheus.volumes
  t.ok(mounts.some((v) => v.startsWith('./ops/alerts.yml:')) && prom.rule_files.includes('/etc/prometheus/alerts.yml'), 'alert rules are mounted and loaded')
  for (const v of [...mounts, ...compose.services.grafana.volumes as string[]]) {
    const source = v.split(':')[0] ?? ''
    // A bind mount's file must exist; a named volume (their data, under a read-only root) must be declared.
    if (source.startsWith('.')) t.ok(existsSync(repoPath(source)), `${source} exists`)
    else t.ok(source in compose.volumes, `volume ${source} is declared`)
  }
})

t.test('docker-compose.yml: no empty or default password anywhere; every secret required from the environment', async (t) => {
  const text = read('docker-compose.yml')
  const compose = yamlOf('docker-compose.yml')
  const refs = [...text.matchAll(/\$\{([A-Z_]+)([^}]*)\}/g)]
  t.same([...new Set(refs.map((m) => m[1]))].sort(), Object.keys(SECRETS).sort(), 'the secrets it reads')
  for (const m of refs) t.match(m[2], /^:\?/, `\${${m[1] ?? ''}} is required (no default)`)
  t.notMatch(text, /MYSQL_ALLOW_EMPTY_PASSWORD|MYSQL_RANDOM_ROOT_PASSWORD/, 'MySQL root has a password')
  t.equal(compose.services.mysql.environment.MYSQL_USER, 'seckill', 'the service has its own MySQL user')
  for (const name of ['ingress', 'worker']) {
    const config = loadConfig(Object.fromEntries(Object.entries(compose.services[name].environment as Record<string, string>).map(([k, v]) => [k, interpolate(String(v))])))
    const db = new URL(config.databaseUrl)
    t.equal(db.username, 'seckill', `${name}: connects to MySQL as seckill, not root`)
    t.equal(db.password, SECRETS.MYSQL_PASSWORD, `${name}: with MYSQL_PASSWORD`)
    t.equal(new URL(config.redisUrl).password, SECRETS.REDIS_PASSWORD, `${name}: Redis with REDIS_PASSWORD`)
  }
  t.equal(interpolate(compose.services.grafana.environment.GF_SECURITY_ADMIN_PASSWORD), SECRETS.GRAFANA_ADMIN_PASSWORD, 'Grafana has no admin/admin')
})

t.test('docker-compose.yml: the Redis command and health check, run as written, require the password', async (t) => {
  const compose = yamlOf('docker-compose.yml')
  const [shell, flag, script] = compose.services.redis.command as [string, string, string]
  const [, , health] = ['', ...compose.services.redis.healthcheck.test as string[]] as [string, string, string]
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'seckill-compose-redis-'))
  // Compose turns `$$` into `$`; the container's environment holds REDIS_PASSWORD.
  const env = { ...process.env, REDIS_PASSWORD: SECRETS.REDIS_PASSWORD }
  // Local settings go in before the here-document that carries the password.
  const local = `--port ${port} --bind 127.0.0.1 --dir ${dir} --save ''`
  t.match(script, / <<EOF\n/, 'the configuration comes on standard input')
  const server = spawn(shell, [flag, script.replaceAll('$$', '$').replace(' <<EOF', ` ${local} <<EOF`)], { env, stdio: 'ignore' })
  t.teardown(() => { server.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }) })
  const ping = (extra: NodeJS.ProcessEnv): string => spawnSync('sh', ['-c', `redis-cli -p ${port} ping`], { env: { ...process.env, ...extra }, encoding: 'utf8' }).stdout.trim()
  const deadline = Date.now() + 10_000
  while (!/NOAUTH|PONG/.test(ping({})) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  t.match(ping({}), /NOAUTH/, 'without the password Redis refuses')
  t.equal(ping({ REDISCLI_AUTH: SECRETS.REDIS_PASSWORD }), 'PONG', 'with it Redis answers')
  // Issue 30, item 10: the password was on redis-server's command line, readable by every process.
  const cmdline = readFileSync(`/proc/${String(server.pid)}/cmdline`, 'utf8').replaceAll('\0', ' ')
  t.match(cmdline, /redis-server/, 'the container\'s first process is Redis itself (exec)')
  t.notMatch(cmdline, SECRETS.REDIS_PASSWORD as string, 'and its command line holds no password')
  t.notMatch(script, /--requirepass/, 'nor does the command as written')
  const check = spawnSync('sh', ['-c', health.replaceAll('$$', '$').replace('redis-cli ping', `redis-cli -p ${port} ping`)], { env, encoding: 'utf8' })
  t.equal(check.status, 0, 'the health check passes with the container\'s password')
  const wrong = spawnSync('sh', ['-c', health.replaceAll('$$', '$').replace('redis-cli ping', `redis-cli -p ${port} ping`)], { env: { ...env, REDIS_PASSWORD: 'wrong' }, encoding: 'utf8' })
  t.not(wrong.status, 0, 'and fails with another')
})

// Issue 30, item 10: compose's containers ran with a writable root, every default capability and
// setuid escalation allowed.
t.test('docker-compose.yml: every container read-only, no capabilities, no new privileges', async (t) => {
  const compose = yamlOf('docker-compose.yml')
  for (const [name, s] of Object.entries(compose.services as Record<string, any>)) {
    t.equal(s.read_only, true, `${name}: read-only root filesystem`)
    t.same(s.cap_drop, ['ALL'], `${name}: every capability dropped`)
    t.ok((s.security_opt as string[] | undefined)?.includes('no-new-privileges:true'), `${name}: no-new-privileges`)
  }
  for (const name of ['ingress', 'worker', 'redis', 'prometheus', 'grafana', 'jaeger']) t.equal(compose.services[name].cap_add, undefined, `${name}: no capability added back`)
  t.same([...compose.services.mysql.cap_add].sort(), ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'SETGID', 'SETUID'], 'mysql: only what its entrypoint needs to drop to its user')
  t.equal(compose.services.redis.user, 'redis', 'Redis runs as its own user, not root')
})

t.test('PM2 ecosystem and its Prometheus file agree on ports', async (t) => {
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

// Issue 30, item 10: PM2 ran the service as development (tokens from a development secret, no
// production checks) unless the shell said otherwise.
t.test('PM2 ecosystem runs production unless told otherwise', async (t) => {
  const load = (nodeEnv: string | undefined): any[] => {
    const saved = process.env.NODE_ENV
    const file = repoPath('ecosystem.config.js')
    if (nodeEnv === undefined) delete process.env.NODE_ENV
    else process.env.NODE_ENV = nodeEnv
    try {
      delete require.cache[require.resolve(file)]
      return (require(file) as { apps: any[] }).apps
    } finally {
      if (saved === undefined) delete process.env.NODE_ENV
      else process.env.NODE_ENV = saved
    }
  }
  for (const app of load(undefined)) t.equal(app.env.NODE_ENV, 'production', `${String(app.name)}: production by default`)
  for (const app of load('development')) t.equal(app.env.NODE_ENV, 'development', `${String(app.name)}: the shell may say otherwise`)
})

// Issue 30, item 10: the image's code was owned by `node`, the user that runs it: a compromised
// process could rewrite the service it runs.
t.test('Dockerfile: the code belongs to root, the process runs as node', async (t) => {
  const lines = read('Dockerfile').split('\n')
  const froms = lines.filter((l) => l.startsWith('FROM '))
  const last = lines.slice(lines.lastIndexOf(froms[froms.length - 1] as string))
  const copies = last.filter((l) => l.startsWith('COPY'))
  t.ok(copies.length >= 4, 'the runtime stage copies the service')
  for (const c of copies) t.notMatch(c, /--chown=(?!root)/, `${c}: not owned by the runtime user`)
  t.ok(last.indexOf('USER node') > Math.max(...copies.map((c) => last.indexOf(c))), 'USER node comes after the copies')
  t.notOk(last.some((l) => /chown|chmod/.test(l) && l.startsWith('RUN')), 'nothing hands the code over afterwards')
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

t.test('Dockerfile: every stage on a Node that package.json\'s engines allow; the build stage has what `npm run build` reads', async (t) => {
  const lines = read('Dockerfile').split('\n')
  const engines = JSON.parse(read('package.json')).engines.node as string
  const least = Number(/^>=(\d+)$/.exec(engines)?.[1])
  t.ok(least >= 22, `engines ${engines}: the lockfile's packages (cookie@2, content-disposition@3) need 22`)
  for (const from of lines.filter((l) => l.startsWith('FROM '))) {
    const major = Number(/^FROM node:(\d+)/.exec(from)?.[1])
    t.ok(major >= least, `${from}: Node ${major} satisfies ${engines}`)
    t.ok(major % 2 === 0, `${from}: an even (LTS) line`)
  }
  const build = lines.slice(0, lines.indexOf(lines.filter((l) => l.startsWith('FROM '))[1] as string))
  const copied = build.filter((l) => l.startsWith('COPY ')).map((l) => l.split(/\s+/)[1])
  const script = JSON.parse(read('package.json')).scripts.build as string
  const file = /^node (\S+)$/.exec(script)?.[1] ?? ''
  t.ok(copied.includes(file.split('/')[0]), `${file} (npm run build) is copied`)
  t.ok(copied.includes('src'), 'the pages (src/web) are copied')
})

// With HOST defaulting to loopback, every deployment that must be reached from outside says so.
t.test('every deployment binds the API beyond loopback explicitly', async (t) => {
  t.match(read('Dockerfile'), /^ENV .*\bHOST=0\.0\.0\.0\b/m, 'the image')
  const compose = yamlOf('docker-compose.yml')
  for (const name of ['ingress', 'worker']) t.equal(compose.services[name].environment.HOST, '0.0.0.0', `compose ${name}`)
  t.equal(yamlOf('ops/k8s/base/config.yaml').data.HOST, '0.0.0.0', 'the Kubernetes base')
  t.equal(loadConfig({}).host, '127.0.0.1', 'and a bare start stays on loopback')
})
