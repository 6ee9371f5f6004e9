/**
 * The whole configuration, parsed and validated once at start.
 *
 * This is the only module that reads `process.env`. Every problem is collected and reported at
 * once (a deploy with three typos fails with three lines, not one per restart), then the result is
 * frozen.
 */

import { secretProblems, urlPassword } from './secret-strength'

export type ProcessRole = 'all' | 'ingress' | 'worker'

export const TRACE_SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const
export type TraceSampler = typeof TRACE_SAMPLERS[number]

/**
 * OpenTelemetry tracing, from the standard `OTEL_*` variables. Off unless OTEL_TRACES_EXPORTER
 * names an exporter: then nothing of the SDK is even loaded (src/tracing/).
 */
export interface TracingConfig {
  /** `none` (the default), `otlp` (OTLP over HTTP, JSON) or `console` (spans printed, for a look). */
  readonly exporter: 'none' | 'otlp' | 'console'
  /** Where OTLP spans are posted: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces. */
  readonly endpoint: string
  /** OTEL_SERVICE_NAME; `seckill-<role>` when unset. */
  readonly serviceName: string
  readonly sampler: TraceSampler
  /** The ratio of the *traceidratio samplers, 0..1. */
  readonly samplerRatio: number
  /** How often finished spans are sent (the batch span processor's delay, ms). */
  readonly exportDelayMs: number
  /** Peers (addresses/CIDRs) whose `traceparent` is followed: its sampled flag decides, its trace
   *  continues. Anyone else's is dropped and the sampler alone decides, so the public cannot make
   *  every request of theirs traced (TRACE_TRUSTED_PARENTS; none by default). */
  readonly trustedParents: readonly string[]
}

export interface Config {
  readonly nodeEnv: string
  readonly role: ProcessRole
  /** Address the API binds: loopback by default; deployments (image, compose, Kubernetes) set 0.0.0.0. */
  readonly host: string
  readonly port: number
  /** Port of the metrics-only listener (0 = none): every PM2 instance gets its own. */
  readonly metricsPort: number
  /** Address the metrics listener binds (loopback unless a scraper on another host needs it). */
  readonly metricsHost: string
  /** When set, `/metrics` is also served on the API port, to requests bearing this token; otherwise
   *  the API port has no `/metrics` (units left, outcomes and pool state are not public). */
  readonly metricsToken: string | undefined
  readonly logLevel: string
  readonly redisUrl: string
  /** Seed nodes of a Redis Cluster; empty for a single server. */
  readonly redisClusterNodes: readonly string[]
  readonly redisPrefix: string
  readonly databaseUrl: string
  /** HS256 key; undefined outside production when JWT_SECRET is not set: the process then uses a
   *  random development secret kept in the database (src/db/development-secret.ts), never a known one. */
  readonly jwtSecret: string | undefined
  /** Admitted tickets may reach (remaining stock × overbook) before the gate answers sold_out. */
  readonly gateOverbook: number
  readonly workerThreads: number
  /** Most tickets a drain batch carries (one Lua reservation, one MySQL transaction). */
  readonly drainBatch: number
  /** A batch stage running longer than this (a hung thread) is abandoned: its thread is ended and
   *  the batch retried, which is safe because every step of a batch is idempotent per ticket. */
  readonly drainBatchTimeoutMs: number
  /** Batches of one shard in flight at once, in overlapping stages (1: one after the other). */
  readonly drainPipeline: number
  /** How long a shard lease lives without renewal; a dead owner's shards move after this. */
  readonly leaseMs: number
  /** The lease of a quiet shard (its drain idle a while, with no stock of its own left or its sale
   *  ended), 3 × LEASE_MS unless set: renewed that much less often, so a sold-out shard costs almost
   *  nothing; a dead owner's quiet shards move after this. A quiet drain that gets work is renewed
   *  with LEASE_MS again. */
  readonly leaseQuietMs: number
  /** How long a drain waits for an admitted ticket whose job has not arrived before it recovers it. */
  readonly gapGraceMs: number
  /** Longest wait of an idle drain: an admission or a returned unit wakes it at once (a message on
   *  the shard's wake channel); past this it looks for work anyway, in case a message was lost. */
  readonly drainIdleWaitMs: number
  /** After an event's end its shards stay owned this long (and past it while tickets are
   *  undecided); then the event is retired: queues removed, keys set to expire, ingresses release it. */
  readonly endGraceMs: number
  /** How often the worker looks for new events and free shards. */
  readonly discoveryMs: number
  readonly eventCacheMs: number
  /** How long an ingress keeps public catalog answers (cleared on every write). */
  readonly catalogCacheMs: number
  readonly ticketWaitMaxMs: number
  /** Long-polls one ingress keeps waiting; past it a poll of a queued ticket gets 503 (keep below the file-descriptor limit). */
  readonly maxWaiting: number
  /** Long-polls one buyer may have waiting at once; past it a poll is answered at once. */
  readonly pollsPerBuyer: number
  /** Buys and polls in flight in one ingress (long-polls' waits not counted) past which more are shed with 503; 0: never. */
  readonly overloadMaxInFlight: number
  /** Mean event-loop delay (ms, over a second) past which buys and polls are shed with 503; 0: never. */
  readonly overloadEventLoopDelayMs: number
  /** Heap in use (MiB) past which buys and polls are shed with 503; 0: never. */
  readonly overloadHeapMiB: number
  /** A client must send a request's headers within this time (a slow client is cut). */
  readonly headersTimeoutMs: number
  /** ... and the whole request (headers and body) within this one. */
  readonly requestTimeoutMs: number
  /** Final tickets an ingress remembers, to answer polls of them without Redis (0: none). */
  readonly finalTicketCache: number
  /** Redis keys of an event live this long after its end. */
  readonly retentionSeconds: number
  readonly buyRateLimit: number
  readonly pollRateLimit: number
  readonly rateWindowMs: number
  readonly shutdownTimeoutMs: number
  /** On shutdown the ingress keeps answering (Connection: close) until its connections are gone, at most this long. */
  readonly shutdownDrainMs: number
  /** A won order not paid within this time expires and its unit goes back to the sale. */
  readonly paymentTimeoutMs: number
  /** Buy tokens (for sales that require them) are issued from this long before the start. */
  readonly buyTokenLeadMs: number
  /** ... and stay valid this long after the start. */
  readonly buyTokenTtlMs: number
  /** Proof-of-work challenges are issued from this long before a sale's start (the page solves while the buyer waits). */
  readonly powLeadMs: number
  /** A proof of work is accepted this long after the start, or after its challenge was issued during the sale. */
  readonly powTtlMs: number
  readonly accessTokenTtlMs: number
  /** A refresh family unused this long ends (each rotation renews it)... */
  readonly refreshTokenTtlMs: number
  /** ... and every family ends this long after its sign-in, however active (ASVS 3.3.2). */
  readonly refreshAbsoluteTtlMs: number
  /** A refresh token just rotated away yields the same successor for this long (two tabs). */
  readonly refreshGraceMs: number
  /** Login (and refresh) attempts per account and per IP in each rate window. */
  readonly loginRateLimit: number
  /** Registrations per IP in each rate window (each one costs a password check and a hash). */
  readonly registerRateLimit: number
  /** Anonymous catalog reads (product search and pages, event lists) per address per window. */
  readonly readRateLimit: number
  /** Proxies whose X-Forwarded-For is believed (Fastify's trustProxy): false (none, the default)
   *  or their addresses/CIDRs. Behind a load balancer the per-address limits need it. */
  readonly trustProxy: false | string[]
  /** Set by Kubernetes in every pod (KUBERNETES_SERVICE_HOST): such a pod is reached through a
   *  Service or an ingress controller, so production without TRUST_PROXY warns at start. */
  readonly inKubernetes: boolean
  /** First admin, created or promoted at start when both are set. */
  /** Where mails (email-verification codes) go: smtp(s)://user:pass@host:port. Unset outside
   *  production, the service starts its own local catcher (src/mail/smtp-catcher.ts); unset in
   *  production, codes cannot be sent (503 MAIL_UNAVAILABLE). */
  readonly smtpUrl: string | undefined
  /** The From of those mails. */
  readonly mailFrom: string
  readonly adminEmail: string | undefined
  readonly adminPassword: string | undefined
  readonly tracing: TracingConfig
  /** Test-only fault injection, e.g. `drain:after-reserve`; never set in production. */
  readonly faultPoint: string | undefined
  /** Tests and drills only: this process's wall clock runs this far ahead (negative: behind) of
   *  the host's (src/util/clock.ts); refused when NODE_ENV=production. */
  readonly clockSkewMs: number
  readonly payments: PaymentsConfig
}

/**
 * Payments (issue 33): which provider takes the money, its keys, and the reconciler's pace. The
 * keys and secrets live here and nowhere else; nothing logs this object.
 */
export interface PaymentsConfig {
  /** `local` (the default: a provider the service runs itself), `stripe` or `alipay`. */
  readonly provider: 'local' | 'stripe' | 'alipay'
  /** ISO currency of the prices (Stripe); Alipay is always CNY. */
  readonly currency: string
  /** The service's public address: where providers send buyers back and Alipay posts notifications. */
  readonly publicUrl: string
  /** The local provider's webhook signing secret (derived from the JWT key when unset). */
  readonly webhookSecret: string | undefined
  readonly stripeSecretKey: string | undefined
  readonly stripeWebhookSecret: string | undefined
  /** Tests only: the Stripe API's address (a local stub). */
  readonly stripeApiUrl: string | undefined
  readonly alipayAppId: string | undefined
  readonly alipayPrivateKey: string | undefined
  readonly alipayPublicKey: string | undefined
  readonly alipayGateway: string | undefined
  /** A payment the provider has said nothing of for this long is asked about (reconciliation). */
  readonly reconcileAfterMs: number
  /** How often the reconciler looks. */
  readonly reconcileEveryMs: number
  /** The local provider's faults, for drills: answers and webhooks delayed up to this (ms)... */
  readonly localDelayMs: number
  /** ... webhooks dropped (never sent) with this probability... */
  readonly localDropRate: number
  /** ... and sent twice with this one. */
  readonly localRepeatRate: number
  /** Where the local provider posts its webhooks (default: this ingress's own address). */
  readonly localWebhookUrl: string | undefined
}

type Env = Readonly<Record<string, string | undefined>>

class Reader {
  readonly problems: string[] = []
  constructor (private readonly env: Env) {}

  str (name: string, fallback: string): string {
    const raw = this.env[name]
    return raw === undefined || raw === '' ? fallback : raw
  }

  optional (name: string): string | undefined {
    const raw = this.env[name]
    return raw === undefined || raw === '' ? undefined : raw
  }

  int (name: string, fallback: number, min: number, max: number): number {
    const raw = this.env[name]
    if (raw === undefined || raw === '') return fallback
    if (!/^-?\d+$/.test(raw)) {
      this.problems.push(`${name}: expected an integer, got ${JSON.stringify(raw)}`)
      return fallback
    }
    const n = Number(raw)
    if (n < min || n > max) this.problems.push(`${name}: ${n} is outside ${min}..${max}`)
    return n
  }

  num (name: string, fallback: number, min: number, max: number): number {
    const raw = this.env[name]
    if (raw === undefined || raw === '') return fallback
    const n = Number(raw)
    if (!Number.isFinite(n)) {
      this.problems.push(`${name}: expected a number, got ${JSON.stringify(raw)}`)
      return fallback
    }
    if (n < min || n > max) this.problems.push(`${name}: ${n} is outside ${min}..${max}`)
    return n
  }

  oneOf<T extends string> (name: string, fallback: T, allowed: readonly T[]): T {
    const raw = this.str(name, fallback)
    if (!(allowed as readonly string[]).includes(raw)) {
      this.problems.push(`${name}: expected one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`)
      return fallback
    }
    return raw as T
  }

  url (name: string, fallback: string, protocols: readonly string[]): string {
    const raw = this.str(name, fallback)
    try {
      const u = new URL(raw)
      if (!protocols.includes(u.protocol)) {
        this.problems.push(`${name}: protocol must be one of ${protocols.join(', ')}, got ${u.protocol}`)
      }
    } catch {
      this.problems.push(`${name}: not a URL: ${JSON.stringify(raw)}`)
    }
    return raw
  }
}

export class ConfigError extends Error {
  constructor (readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.name = 'ConfigError'
  }
}

/** TRUST_PROXY (and TRACE_TRUSTED_PARENTS): unset or "false" (trust nobody), or a comma list of addresses/CIDRs. */
function parseTrustProxy (raw: string | undefined, problems: string[], name = 'TRUST_PROXY'): false | string[] {
  if (raw === undefined || raw === 'false') return false
  const list = raw.split(',').map((a) => a.trim()).filter((a) => a !== '')
  if (list.length === 0 || list.some((a) => !/^[0-9A-Fa-f.:]+(\/\d{1,3})?$/.test(a))) {
    problems.push(`${name}: expected false or addresses/CIDRs separated by commas, got ${JSON.stringify(raw)}`)
    return false
  }
  return list
}

function readTracing (r: Reader, role: ProcessRole): TracingConfig {
  const disabled = r.oneOf('OTEL_SDK_DISABLED', 'false', ['true', 'false']) === 'true'
  const exporter = r.oneOf<TracingConfig['exporter']>('OTEL_TRACES_EXPORTER', 'none', ['none', 'otlp', 'console'])
  const base = r.optional('OTEL_EXPORTER_OTLP_ENDPOINT')
  const fallback = base === undefined ? 'http://localhost:4318/v1/traces' : `${base.replace(/\/+$/, '')}/v1/traces`
  const trustedParents = parseTrustProxy(r.optional('TRACE_TRUSTED_PARENTS'), r.problems, 'TRACE_TRUSTED_PARENTS')
  return {
    exporter: disabled ? 'none' : exporter,
    endpoint: r.url('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', fallback, ['http:', 'https:']),
    serviceName: r.str('OTEL_SERVICE_NAME', `seckill-${role}`),
    sampler: r.oneOf<TraceSampler>('OTEL_TRACES_SAMPLER', 'parentbased_always_on', TRACE_SAMPLERS),
    samplerRatio: r.num('OTEL_TRACES_SAMPLER_ARG', 1, 0, 1),
    exportDelayMs: r.int('OTEL_BSP_SCHEDULE_DELAY', 5000, 10, 600_000),
    trustedParents: trustedParents === false ? [] : trustedParents
  }
}

/**
 * Only the tracing settings, for the module that starts tracing before anything else is loaded
 * (src/tracing/preload.ts); undefined when the environment has a problem (loadConfig reports it).
 */
export function loadTracingConfig (env: Env = process.env): TracingConfig | undefined {
  const r = new Reader(env)
  const role = r.oneOf<ProcessRole>('PROCESS_ROLE', 'all', ['all', 'ingress', 'worker'])
  const tracing = readTracing(r, role)
  return r.problems.length === 0 ? tracing : undefined
}

/** PEM keys arrive in one environment line with `\n` for the line breaks. */
function pem (raw: string | undefined): string | undefined {
  return raw?.replace(/\\n/g, '\n')
}

function readPayments (r: Reader, nodeEnv: string, port: number): PaymentsConfig {
  const p: PaymentsConfig = {
    provider: r.oneOf<PaymentsConfig['provider']>('PAYMENT_PROVIDER', 'local', ['local', 'stripe', 'alipay']),
    currency: r.str('PAYMENT_CURRENCY', 'usd').toLowerCase(),
    publicUrl: r.url('PUBLIC_URL', `http://localhost:${port}`, ['http:', 'https:']).replace(/\/+$/, ''),
    webhookSecret: r.optional('PAYMENT_WEBHOOK_SECRET'),
    stripeSecretKey: r.optional('STRIPE_SECRET_KEY'),
    stripeWebhookSecret: r.optional('STRIPE_WEBHOOK_SECRET'),
    stripeApiUrl: r.optional('STRIPE_API_URL'),
    alipayAppId: r.optional('ALIPAY_APP_ID'),
    alipayPrivateKey: pem(r.optional('ALIPAY_PRIVATE_KEY')),
    alipayPublicKey: pem(r.optional('ALIPAY_PUBLIC_KEY')),
    alipayGateway: r.optional('ALIPAY_GATEWAY'),
    reconcileAfterMs: r.int('PAYMENT_RECONCILE_AFTER_MS', 60_000, 100, 86_400_000),
    reconcileEveryMs: r.int('PAYMENT_RECONCILE_EVERY_MS', 15_000, 50, 3_600_000),
    localDelayMs: r.int('LOCAL_PAY_DELAY_MS', 0, 0, 60_000),
    localDropRate: r.num('LOCAL_PAY_DROP_RATE', 0, 0, 1),
    localRepeatRate: r.num('LOCAL_PAY_REPEAT_RATE', 0, 0, 1),
    localWebhookUrl: r.optional('LOCAL_PAY_WEBHOOK_URL')
  }
  if (!/^[a-z]{3}$/.test(p.currency)) r.problems.push(`PAYMENT_CURRENCY: a three-letter ISO code, got ${JSON.stringify(p.currency)}`)
  if (p.webhookSecret !== undefined && p.webhookSecret.length < 32) r.problems.push('PAYMENT_WEBHOOK_SECRET: must be at least 32 characters')
  if (p.provider === 'local' && nodeEnv === 'production') {
    r.problems.push('PAYMENT_PROVIDER: the local provider takes no money; refused when NODE_ENV=production (use stripe or alipay)')
  }
  if (p.provider === 'stripe') {
    if (p.stripeSecretKey === undefined) r.problems.push('STRIPE_SECRET_KEY: required with PAYMENT_PROVIDER=stripe')
    if (p.stripeWebhookSecret === undefined) r.problems.push('STRIPE_WEBHOOK_SECRET: required with PAYMENT_PROVIDER=stripe (webhooks are verified with it)')
  }
  if (p.provider === 'alipay') {
    if (p.alipayAppId === undefined) r.problems.push('ALIPAY_APP_ID: required with PAYMENT_PROVIDER=alipay')
    if (p.alipayPrivateKey === undefined) r.problems.push('ALIPAY_PRIVATE_KEY: required with PAYMENT_PROVIDER=alipay')
    if (p.alipayPublicKey === undefined) r.problems.push('ALIPAY_PUBLIC_KEY: required with PAYMENT_PROVIDER=alipay (notifications are verified with it)')
  }
  if (p.stripeApiUrl !== undefined && nodeEnv === 'production') r.problems.push('STRIPE_API_URL: for tests only; refused when NODE_ENV=production')
  if (nodeEnv === 'production' && (p.localDelayMs > 0 || p.localDropRate > 0 || p.localRepeatRate > 0)) {
    r.problems.push('LOCAL_PAY_DELAY_MS, LOCAL_PAY_DROP_RATE, LOCAL_PAY_REPEAT_RATE: drills only; refused when NODE_ENV=production')
  }
  return p
}

export function loadConfig (env: Env = process.env): Config {
  const r = new Reader(env)
  const nodeEnv = r.str('NODE_ENV', 'development')
  const secret = r.optional('JWT_SECRET')
  if (secret === undefined && nodeEnv === 'production') {
    r.problems.push('JWT_SECRET: required when NODE_ENV=production')
  }
  if (secret !== undefined && secret.length < 32) {
    r.problems.push('JWT_SECRET: must be at least 32 characters')
  }
  const metricsToken = r.optional('METRICS_TOKEN')
  if (metricsToken !== undefined && metricsToken.length < 32) {
    r.problems.push('METRICS_TOKEN: must be at least 32 characters')
  }
  const clusterNodes = (r.optional('REDIS_CLUSTER_NODES') ?? '').split(',').map((n) => n.trim()).filter((n) => n !== '')
  for (const node of clusterNodes) {
    if (!/^[A-Za-z0-9_.-]+:\d{1,5}$/.test(node)) r.problems.push(`REDIS_CLUSTER_NODES: ${JSON.stringify(node)} is not host:port`)
  }
  const prefix = r.str('REDIS_PREFIX', 'sk')
  if (!/^[A-Za-z0-9_.-]{1,32}$/.test(prefix)) {
    r.problems.push('REDIS_PREFIX: 1-32 characters of letters, digits, _ . -')
  }
  const leaseMs = r.int('LEASE_MS', 5000, 500, 600_000)
  const role = r.oneOf<ProcessRole>('PROCESS_ROLE', 'all', ['all', 'ingress', 'worker'])
  const config: Config = {
    nodeEnv,
    role,
    // Loopback unless told: a development process is not on the network by accident (the image,
    // compose and the Kubernetes base set 0.0.0.0).
    host: r.str('HOST', '127.0.0.1'),
    port: r.int('PORT', 8080, 0, 65535),
    metricsPort: r.int('METRICS_PORT', 0, 0, 65535),
    metricsHost: r.str('METRICS_HOST', '127.0.0.1'),
    metricsToken,
    logLevel: r.oneOf('LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    redisUrl: r.url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    redisClusterNodes: clusterNodes,
    redisPrefix: prefix,
    databaseUrl: r.url('DATABASE_URL', 'mysql://root@127.0.0.1:3306/seckill', ['mysql:']),
    jwtSecret: secret,
    gateOverbook: r.num('GATE_OVERBOOK', 1.1, 1, 10),
    workerThreads: r.int('WORKER_THREADS', 2, 1, 64),
    drainBatch: r.int('DRAIN_BATCH', 1000, 1, 5000),
    drainBatchTimeoutMs: r.int('DRAIN_BATCH_TIMEOUT_MS', 20_000, 500, 600_000),
    drainPipeline: r.int('DRAIN_PIPELINE', 3, 1, 8),
    leaseMs,
    // Three leases by default: a dead owner's sold-out shards move within 15 s (a fault drill that
    // kills a worker while units come back took 25.6 s to recover with 30 s).
    leaseQuietMs: r.int('LEASE_QUIET_MS', 3 * leaseMs, 500, 600_000),
    gapGraceMs: r.int('GAP_GRACE_MS', 500, 10, 60_000),
    drainIdleWaitMs: r.int('DRAIN_IDLE_WAIT_MS', 10_000, 10, 600_000),
    discoveryMs: r.int('DISCOVERY_MS', 1000, 50, 60_000),
    endGraceMs: r.int('END_GRACE_MS', 60_000, 0, 86_400_000),
    eventCacheMs: r.int('EVENT_CACHE_MS', 1000, 0, 600_000),
    catalogCacheMs: r.int('CATALOG_CACHE_MS', 2000, 0, 600_000),
    ticketWaitMaxMs: r.int('TICKET_WAIT_MAX_MS', 30_000, 0, 120_000),
    maxWaiting: r.int('MAX_WAITING', 10_000, 1, 1_000_000),
    pollsPerBuyer: r.int('POLLS_PER_BUYER', 3, 1, 100),
    overloadMaxInFlight: r.int('OVERLOAD_MAX_IN_FLIGHT', 500, 0, 1_000_000),
    overloadEventLoopDelayMs: r.int('OVERLOAD_EVENT_LOOP_DELAY_MS', 250, 0, 60_000),
    overloadHeapMiB: r.int('OVERLOAD_HEAP_MIB', 0, 0, 1_000_000),
    headersTimeoutMs: r.int('HEADERS_TIMEOUT_MS', 5000, 1000, 120_000),
    requestTimeoutMs: r.int('REQUEST_TIMEOUT_MS', 10_000, 1000, 300_000),
    finalTicketCache: r.int('FINAL_TICKET_CACHE', 100_000, 0, 10_000_000),
    retentionSeconds: r.int('RETENTION_SECONDS', 86_400, 60, 30 * 86_400),
    buyRateLimit: r.int('RATE_LIMIT_BUY', 20, 1, 1_000_000),
    pollRateLimit: r.int('RATE_LIMIT_POLL', 120, 1, 1_000_000),
    rateWindowMs: r.int('RATE_LIMIT_WINDOW_MS', 10_000, 100, 3_600_000),
    shutdownTimeoutMs: r.int('SHUTDOWN_TIMEOUT_MS', 15_000, 100, 600_000),
    shutdownDrainMs: r.int('SHUTDOWN_DRAIN_MS', 5000, 0, 60_000),
    paymentTimeoutMs: r.int('PAYMENT_TIMEOUT_MS', 900_000, 1000, 7 * 86_400_000),
    buyTokenLeadMs: r.int('BUY_TOKEN_LEAD_MS', 300_000, 0, 86_400_000),
    buyTokenTtlMs: r.int('BUY_TOKEN_TTL_MS', 120_000, 1000, 86_400_000),
    powLeadMs: r.int('POW_LEAD_MS', 600_000, 0, 86_400_000),
    powTtlMs: r.int('POW_TTL_MS', 120_000, 1000, 86_400_000),
    accessTokenTtlMs: r.int('ACCESS_TOKEN_TTL_MS', 900_000, 1000, 86_400_000),
    refreshTokenTtlMs: r.int('REFRESH_TOKEN_TTL_MS', 30 * 86_400_000, 60_000, 365 * 86_400_000),
    refreshAbsoluteTtlMs: r.int('REFRESH_ABSOLUTE_TTL_MS', 30 * 86_400_000, 60_000, 365 * 86_400_000),
    refreshGraceMs: r.int('REFRESH_GRACE_MS', 10_000, 0, 60_000),
    loginRateLimit: r.int('RATE_LIMIT_LOGIN', 10, 1, 1_000_000),
    registerRateLimit: r.int('RATE_LIMIT_REGISTER', 5, 1, 1_000_000),
    readRateLimit: r.int('RATE_LIMIT_READ', 120, 1, 1_000_000),
    trustProxy: parseTrustProxy(r.optional('TRUST_PROXY'), r.problems),
    inKubernetes: r.optional('KUBERNETES_SERVICE_HOST') !== undefined,
    smtpUrl: r.optional('SMTP_URL') === undefined ? undefined : r.url('SMTP_URL', '', ['smtp:', 'smtps:']),
    mailFrom: r.str('MAIL_FROM', 'seckill <no-reply@seckill.invalid>'),
    adminEmail: r.optional('ADMIN_EMAIL'),
    adminPassword: r.optional('ADMIN_PASSWORD'),
    tracing: readTracing(r, role),
    faultPoint: r.optional('SECKILL_FAULT'),
    clockSkewMs: r.int('CLOCK_SKEW_MS', 0, -86_400_000, 86_400_000),
    payments: readPayments(r, nodeEnv, Number(env.PORT ?? 8080) || 8080)
  }
  if (config.clockSkewMs !== 0 && nodeEnv === 'production') {
    r.problems.push('CLOCK_SKEW_MS: for tests and drills only; refused when NODE_ENV=production')
  }
  if ((config.adminEmail === undefined) !== (config.adminPassword === undefined)) {
    r.problems.push('ADMIN_EMAIL and ADMIN_PASSWORD: set both or neither')
  }
  if (config.adminPassword !== undefined && config.adminPassword.length < 8) {
    r.problems.push('ADMIN_PASSWORD: at least 8 characters')
  }
  if (nodeEnv === 'production') {
    // Every secret the configuration takes, held to the same bar (ASVS 2.10.4, 6.4.1).
    if (secret !== undefined) r.problems.push(...secretProblems('JWT_SECRET', secret))
    if (metricsToken !== undefined) r.problems.push(...secretProblems('METRICS_TOKEN', metricsToken))
    // It decides which webhooks mark an order paid: the example's placeholder would let anyone sign one.
    const webhook = config.payments.stripeWebhookSecret
    if (webhook !== undefined) r.problems.push(...secretProblems('STRIPE_WEBHOOK_SECRET', webhook))
    for (const [name, url] of [['REDIS_URL', config.redisUrl], ['DATABASE_URL', config.databaseUrl], ['SMTP_URL', config.smtpUrl ?? '']] as const) {
      const password = urlPassword(url)
      if (password !== undefined) r.problems.push(...secretProblems(`${name} password`, password))
    }
  }
  if (r.problems.length > 0) throw new ConfigError(r.problems)
  return Object.freeze(config)
}
