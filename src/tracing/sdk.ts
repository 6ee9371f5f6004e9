/**
 * Starts OpenTelemetry tracing in a process or a drain thread, from TracingConfig (the standard
 * OTEL_* variables, parsed in src/config.ts). It must run before the traced libraries are loaded
 * (the instrumentations hook `require`), hence preload.ts and drain-thread-tracing.ts.
 *
 * The SDK is required here, inside the function: with tracing off (the default) none of it is
 * loaded. What a span may carry is chosen so that nothing secret leaves the process: a Redis script's
 * span names the script, never its arguments (a buyer's buy token is one); MySQL statements are
 * recorded with their values masked (a password hash is one).
 */
import type { Attributes, Context, Link, SpanKind } from '@opentelemetry/api'
import type { Sampler, SamplingResult } from '@opentelemetry/sdk-trace'
import type { TracingConfig } from '../config'
import { markTracingStarted } from './spans'

export interface Tracing {
  /** Sends what is buffered and stops. */
  shutdown: () => Promise<void>
}

/** Where the SDK runs: the process (HTTP, Redis, MySQL, logs) or a drain thread (Redis, MySQL). */
export type TracedPlace = 'process' | 'drain-thread'

/**
 * The configured sampler, with three rules of the product's: a request's server span is kept (the
 * request was sampled at the edge, requestSampled, and ignored otherwise); a span without a parent
 * that links to a sampled span (a drain batch deciding a sampled buy) is kept; a client call
 * without a parent (a MySQL query or a Redis command of a background loop: discovery, leases,
 * sweeps) is not traced on its own.
 */
class ProductSampler implements Sampler {
  // Resolved once: a require() per span (with the instrumentations' require hooks) cost the ingress
  // most of its throughput (bench:tracing, CPU profile).
  private readonly api = require('@opentelemetry/api') as typeof import('@opentelemetry/api')

  constructor (private readonly inner: Sampler) {}

  shouldSample (ctx: Context, traceId: string, name: string, kind: SpanKind, attributes: Attributes, links: Link[]): SamplingResult {
    const api = this.api
    // A request reaching the server span was sampled at the edge already (requestSampled).
    if (kind === api.SpanKind.SERVER) return { decision: 2 /* RECORD_AND_SAMPLED */ }
    if (api.trace.getSpanContext(ctx) === undefined) {
      if (links.some((l) => (l.context.traceFlags & api.TraceFlags.SAMPLED) !== 0)) return { decision: 2 /* RECORD_AND_SAMPLED */ }
      if (kind === api.SpanKind.CLIENT) return { decision: 0 /* NOT_RECORD */ }
    }
    return this.inner.shouldSample(ctx, traceId, name, kind, attributes, links)
  }

  toString (): string {
    return `Product{${this.inner.toString()}}`
  }
}

function sampler (cfg: TracingConfig): Sampler {
  const sdk = require('@opentelemetry/sdk-trace') as typeof import('@opentelemetry/sdk-trace')
  const root = cfg.sampler.endsWith('always_on')
    ? new sdk.AlwaysOnSampler()
    : cfg.sampler.endsWith('always_off') ? new sdk.AlwaysOffSampler() : new sdk.TraceIdRatioBasedSampler(cfg.samplerRatio)
  const chosen = cfg.sampler.startsWith('parentbased_') ? new sdk.ParentBasedSampler({ root }) : root
  return new ProductSampler(chosen)
}

/** The peers whose trace context is believed (TRACE_TRUSTED_PARENTS), as a matcher. */
function trustedPeers (cfg: TracingConfig): (address: string | undefined) => boolean {
  if (cfg.trustedParents.length === 0) return () => false
  const { BlockList, isIPv6 } = require('node:net') as typeof import('node:net')
  const list = new BlockList()
  for (const entry of cfg.trustedParents) {
    const [address, bits] = entry.split('/') as [string, string | undefined]
    const type = isIPv6(address) ? 'ipv6' : 'ipv4'
    if (bits === undefined) list.addAddress(address, type)
    else list.addSubnet(address, Number(bits), type)
  }
  return (address) => {
    if (address === undefined) return false
    // An IPv4 client on a dual-stack socket reads ::ffff:a.b.c.d.
    const plain = address.startsWith('::ffff:') ? address.slice(7) : address
    return list.check(plain, isIPv6(plain) ? 'ipv6' : 'ipv4')
  }
}

/**
 * A caller's trace context from the public is dropped before the instrumentation reads it: its
 * sampled flag would let anyone have every request of theirs traced (at 100 % sampling admitted
 * buys ran at 42 %; issue 30, item 5), and its trace id would put their spans in traces of their
 * choosing. From a trusted peer (a gateway that samples, TRACE_TRUSTED_PARENTS) it is followed.
 */
function dropUntrustedParent (trusted: (address: string | undefined) => boolean, req: { headers: Record<string, unknown>, socket?: { remoteAddress?: string } }): void {
  if (req.headers.traceparent === undefined && req.headers.tracestate === undefined) return
  if (trusted(req.socket?.remoteAddress)) return
  delete req.headers.traceparent
  delete req.headers.tracestate
}

/**
 * What the server span may not carry: the client's address and port (personal data, and behind a
 * proxy not even the client's) and the query string (ticket long-polls, search terms). The
 * instrumentation merges these over its own attributes, and an attribute without a value is not
 * recorded.
 */
export const DROPPED_REQUEST_ATTRIBUTES = ['client.address', 'network.peer.address', 'network.peer.port', 'url.query'] as const

/** Paths whose requests are not traced: probes, metrics, the pages' static files. */
const untraced = (url: string | undefined): boolean => url === undefined || !url.startsWith('/api/')

const TRACEPARENT = /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-([\da-f]{2})$/

/**
 * The sampling decision for an incoming request, taken before any span or context is made: the
 * requests not sampled then cost the HTTP instrumentation nothing but this check. Measured
 * (bench:tracing, CPU profile of the ingress): deciding in the sampler instead, after the server
 * span's attributes were gathered and its context entered, cost every request about as much as
 * the admission itself at 1 %. A trusted caller's `traceparent` decides under the parentbased
 * samplers (anyone else's was dropped before, dropUntrustedParent).
 */
function requestSampled (cfg: TracingConfig, traceparent: string | string[] | undefined): boolean {
  if (cfg.sampler.startsWith('parentbased_') && typeof traceparent === 'string') {
    const m = TRACEPARENT.exec(traceparent)
    if (m !== null) return (Number.parseInt(m[1] as string, 16) & 1) === 1
  }
  if (cfg.sampler.endsWith('always_on')) return true
  if (cfg.sampler.endsWith('always_off')) return false
  return Math.random() < cfg.samplerRatio
}

function instrumentations (cfg: TracingConfig, place: TracedPlace): unknown[] {
  const { MySQL2Instrumentation } = require('@opentelemetry/instrumentation-mysql2') as typeof import('@opentelemetry/instrumentation-mysql2')
  // No ioredis instrumentation: with auto-pipelining its spans take the context of whichever
  // command started a batch, so they landed in other requests' traces. The Lua scripts, which are
  // the product's Redis work, get spans of their own (spans.ts inScriptSpan, from runScript).
  const mysql = new MySQL2Instrumentation({ maskStatement: true })
  if (place === 'drain-thread') return [mysql]
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http')
  const { PinoInstrumentation } = require('@opentelemetry/instrumentation-pino') as typeof import('@opentelemetry/instrumentation-pino')
  const trusted = trustedPeers(cfg)
  const dropped = Object.fromEntries(DROPPED_REQUEST_ATTRIBUTES.map((k) => [k, undefined]))
  return [
    // The request's server span, named by its Fastify route by the app (spans.ts nameRequestSpan).
    // Not @fastify/otel: its span per hook (seven per buy) cost more than the buy's own work.
    new HttpInstrumentation({
      ignoreIncomingRequestHook: (req) => {
        if (untraced(req.url)) return true
        dropUntrustedParent(trusted, req)
        return !requestSampled(cfg, req.headers.traceparent)
      },
      startIncomingSpanHook: () => dropped as unknown as Attributes,
      ignoreOutgoingRequestHook: () => true
    }),
    mysql,
    // trace_id and span_id in every log line written inside a span.
    new PinoInstrumentation({ disableLogSending: true })
  ]
}

export function startTracing (cfg: TracingConfig, place: TracedPlace): Tracing | undefined {
  if (cfg.exporter === 'none') return undefined
  const api = require('@opentelemetry/api') as typeof import('@opentelemetry/api')
  const sdk = require('@opentelemetry/sdk-trace') as typeof import('@opentelemetry/sdk-trace')
  const { resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources')
  const { W3CTraceContextPropagator } = require('@opentelemetry/core') as typeof import('@opentelemetry/core')
  const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks') as typeof import('@opentelemetry/context-async-hooks')
  const { registerInstrumentations } = require('@opentelemetry/instrumentation') as typeof import('@opentelemetry/instrumentation')
  const exporter = cfg.exporter === 'console'
    ? new sdk.ConsoleSpanExporter()
    : new (require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter({ url: cfg.endpoint })
  const provider = new sdk.TracerProvider({
    resource: resourceFromAttributes({ 'service.name': cfg.serviceName, 'seckill.place': place }),
    sampler: sampler(cfg),
    // A batch links to each sampled ticket it decides (DRAIN_BATCH is at most 5000).
    spanLimits: { linkCountLimit: 5000 },
    // Past the queue, spans are dropped rather than held: a flash crowd must not grow the heap.
    spanProcessors: [new sdk.BatchSpanProcessor({ exporter, scheduledDelayMillis: cfg.exportDelayMs, maxQueueSize: 8192, maxExportBatchSize: 1024 })]
  })
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  api.propagation.setGlobalPropagator(new W3CTraceContextPropagator())
  api.trace.setGlobalTracerProvider(provider)
  registerInstrumentations({ tracerProvider: provider, instrumentations: instrumentations(cfg, place) as Parameters<typeof registerInstrumentations>[0]['instrumentations'] })
  markTracingStarted()
  return { shutdown: async () => await provider.shutdown() }
}
