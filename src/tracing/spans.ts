/**
 * The product's own spans and the trace context it carries through Redis, over the OpenTelemetry
 * API only. Until tracing is started (src/tracing/sdk.ts) every function here returns at its first
 * line: no context is read, no span made, no string built, so tracing off costs nothing.
 *
 * A buy is one story across processes: the buy request's context (W3C `traceparent`) is stored
 * with the ticket's job by the admission script (lua/admitBuyer); the drain batch that decides the
 * ticket starts a span linked to every sampled ticket it carries (`drain.batch`); each stage of the
 * batch runs on a drain thread under that span (`drain.reserve`, `drain.write` with the MySQL
 * transaction, `drain.finish` with the outcome written and published).
 */
import { context, propagation, trace, SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api'
import type { Attributes, Context, Link, Span } from '@opentelemetry/api'

const TRACER_NAME = 'seckill'
let enabled = false

/** Called once the SDK is registered (sdk.ts). */
export function markTracingStarted (): void {
  enabled = true
}

export function tracingStarted (): boolean {
  return enabled
}

/** Records a failure on a span: the error, and the span's status. */
function markFailed (span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err))
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) })
}

const toContext = (traceParent: string): Context => propagation.extract(context.active(), { traceparent: traceParent })

/** The active span's context as a W3C traceparent when it is sampled; '' otherwise. */
export function sampledTraceParent (): string {
  if (!enabled) return ''
  const sc = trace.getSpanContext(context.active())
  if (sc === undefined || (sc.traceFlags & TraceFlags.SAMPLED) === 0) return ''
  const carrier: Record<string, string> = {}
  propagation.inject(context.active(), carrier)
  return carrier.traceparent ?? ''
}

/**
 * A Redis script call as a span under the caller's (`redis <script>`), made here rather than by
 * the ioredis instrumentation: with auto-pipelining, ioredis sends the commands of one tick
 * together, and the instrumentation's spans took the context of whichever command started the
 * batch, so a buy's admission could land in another request's trace (seen in CI). Only within a
 * sampled span: background loops make none.
 */
export async function inScriptSpan<T> (script: string, fn: () => Promise<T>): Promise<T> {
  const parent = trace.getSpan(context.active())
  if (parent === undefined || !parent.isRecording()) return await fn()
  const span = trace.getTracer(TRACER_NAME).startSpan(`redis ${script}`, {
    kind: SpanKind.CLIENT,
    attributes: { 'db.system.name': 'redis', 'db.operation.name': 'EVALSHA', 'seckill.script': script }
  })
  try {
    return await fn()
  } catch (err) {
    markFailed(span, err)
    throw err
  } finally {
    span.end()
  }
}

/** Fastify onRequest hook: names the HTTP server span by the route and records `http.route`. */
export async function nameRequestSpan (request: { readonly method: string, readonly routeOptions: { readonly url?: string } }): Promise<void> {
  const route = request.routeOptions.url
  const span = trace.getActiveSpan()
  if (route === undefined || span === undefined) return
  span.updateName(`${request.method} ${route}`)
  span.setAttribute('http.route', route)
}

/** A span the caller ends (a drain batch: started on launch, ended when it lands). */
export interface OpenSpan {
  readonly span: Span
  /** Its context as a traceparent, for the stages run on other threads. */
  readonly traceParent: string
}

function linksTo (traceParents: readonly string[]): Link[] {
  const links: Link[] = []
  for (const tp of traceParents) {
    if (tp === '') continue
    const sc = trace.getSpanContext(toContext(tp))
    if (sc !== undefined) links.push({ context: sc })
  }
  return links
}

/**
 * Starts a root span linked to the given contexts (the tickets' buys). It is sampled when any of
 * them was (sdk.ts LinkAwareSampler), so a sampled buy's batch is always in the trace store.
 */
export function startLinkedSpan (name: string, attributes: Attributes, traceParents: readonly string[]): OpenSpan | undefined {
  if (!enabled) return undefined
  const span = trace.getTracer(TRACER_NAME).startSpan(name, { attributes, links: linksTo(traceParents), root: true })
  if (!span.isRecording()) {
    span.end()
    return undefined
  }
  const carrier: Record<string, string> = {}
  propagation.inject(trace.setSpan(context.active(), span), carrier)
  return { span, traceParent: carrier.traceparent ?? '' }
}

export function endSpan (open: OpenSpan | undefined, err?: unknown): void {
  if (open === undefined) return
  if (err !== undefined) {
    markFailed(open.span, err)
  }
  open.span.end()
}

/**
 * Runs `fn` in a span whose parent is `traceParent` (a batch's, carried to a drain thread), linked
 * to `links`; the spans of the Redis and MySQL calls `fn` makes are its children. Without tracing
 * or a parent, just runs `fn`.
 */
export async function inChildSpan<T> (name: string, traceParent: string | undefined, attributes: Attributes,
  fn: () => Promise<T>, links: readonly string[] = []): Promise<T> {
  if (!enabled || traceParent === undefined || traceParent === '') return await fn()
  const parent = toContext(traceParent)
  const span = trace.getTracer(TRACER_NAME).startSpan(name, { attributes, links: linksTo(links) }, parent)
  try {
    return await context.with(trace.setSpan(parent, span), fn)
  } catch (err) {
    markFailed(span, err)
    throw err
  } finally {
    span.end()
  }
}
