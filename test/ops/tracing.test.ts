/**
 * OpenTelemetry tracing, end to end: the service (one process, drain threads included) exports to
 * a local OTLP/HTTP receiver, and one buy reads as one story: the request, its admission script,
 * the drain batch linked to it, the batch's MySQL transaction, and the outcome written. Log lines
 * written inside a traced request carry its trace id. Spans carry no buyer's arguments.
 */
import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'
import { testEnv } from '../helpers/env'
import type { Test } from '../helpers/tap-types'
import { httpClient, until } from '../helpers/sale'
import { freePort, spawnService, whenReady } from '../helpers/processes'

interface OtlpValue { stringValue?: string, intValue?: string | number, boolValue?: boolean }
interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  links?: Array<{ traceId: string, spanId: string }>
  attributes?: Array<{ key: string, value: OtlpValue }>
}
interface Received { readonly service: string, readonly place: string, readonly span: OtlpSpan }

/** A receiver of OTLP/HTTP JSON posts (what the service's exporter sends), keeping every span. */
async function otlpReceiver (t: Test): Promise<{ url: string, spans: Received[] }> {
  const spans: Received[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => { body += d.toString() })
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const doc = JSON.parse(body) as { resourceSpans: Array<{ resource: { attributes: Array<{ key: string, value: OtlpValue }> }, scopeSpans: Array<{ spans: OtlpSpan[] }> }> }
        for (const rs of doc.resourceSpans) {
          const attr = (k: string): string => rs.resource.attributes.find((a) => a.key === k)?.value.stringValue ?? ''
          for (const ss of rs.scopeSpans) for (const span of ss.spans) spans.push({ service: attr('service.name'), place: attr('seckill.place'), span })
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => await new Promise((resolve) => server.close(resolve)))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans }
}

/** A mysql2 span (the current semantic conventions name the system `db.system.name`, older ones `db.system`). */
const isMysql = (s: OtlpSpan): boolean => attribute(s, 'db.system.name') === 'mysql' || attribute(s, 'db.system') === 'mysql'
const hex = (bytes: number): string => randomBytes(bytes).toString('hex')
const attribute = (s: OtlpSpan, key: string): string | number | boolean | undefined => {
  const v = s.attributes?.find((a) => a.key === key)?.value
  return v?.stringValue ?? (v?.intValue === undefined ? v?.boolValue : Number(v.intValue))
}

t.test('one buy is one story: request, admission, the linked drain batch, its MySQL transaction, the outcome', async (t) => {
  const env = await testEnv(t)
  const receiver = await otlpReceiver(t)
  const port = await freePort()
  const service = spawnService(env, {
    PROCESS_ROLE: 'all',
    PORT: String(port),
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_TRACES_SAMPLER: 'parentbased_always_on',
    OTEL_BSP_SCHEDULE_DELAY: '100',
    // The test is the trusted gateway: its traceparent is followed (anyone else's is dropped).
    TRACE_TRUSTED_PARENTS: '127.0.0.1',
    LOG_LEVEL: 'info'
  })
  const http = httpClient(`http://127.0.0.1:${port}`)
  await whenReady(service, http.base)

  // The client's own trace context, so the test knows the buy's trace id (W3C traceparent).
  const adminTrace = hex(16)
  const admin = env.token(1, 'admin')
  const product = await http.request('POST', '/api/v1/admin/products', {
    token: admin, body: { title: 'Traced sneaker', price_cents: 100 }, headers: { traceparent: `00-${adminTrace}-${hex(8)}-01` }
  })
  t.equal(product.status, 201)
  const start = Date.now() - 1000
  const event = await http.request('POST', '/api/v1/admin/events', {
    token: admin,
    body: { product_id: product.body.data.id, title: 'Traced drop', price_cents: 100, stock: 1, start_at: new Date(start).toISOString(), end_at: new Date(start + 3_600_000).toISOString() }
  })
  t.equal(event.status, 201)
  const eventId = event.body.data.id as number

  // A caller's traceparent that says "not sampled" is followed (parentbased): no span at all.
  const unsampledTrace = hex(16)
  t.equal((await http.request('GET', `/api/v1/events/${eventId}`, { headers: { traceparent: `00-${unsampledTrace}-${hex(8)}-00` } })).status, 200)

  const buyTrace = hex(16)
  const buyer = 4242
  const buy = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(buyer), headers: { traceparent: `00-${buyTrace}-${hex(8)}-01` } })
  t.equal(buy.status, 202, 'queued')
  const ticketId = buy.body.data.ticket_id as string
  await until(async () => (await http.request('GET', `/api/v1/tickets/${ticketId}`, { token: env.token(buyer) })).body.data?.status === 'won', 30_000, 'the ticket won')
  const pollTrace = hex(16)
  t.equal((await http.request('GET', `/api/v1/tickets/${ticketId}?wait=0`, { token: env.token(buyer), headers: { traceparent: `00-${pollTrace}-${hex(8)}-01` } })).status, 200)

  const inTrace = (traceId: string): OtlpSpan[] => receiver.spans.filter((r) => r.span.traceId === traceId).map((r) => r.span)
  const batchOf = (): OtlpSpan | undefined => receiver.spans.find((r) => r.span.name === 'drain.batch' && (r.span.links ?? []).some((l) => l.traceId === buyTrace))?.span
  const childOf = (parent: OtlpSpan, name: string): OtlpSpan | undefined => inTrace(parent.traceId).find((s) => s.parentSpanId === parent.spanId && s.name === name)
  // Spans are sent every 100 ms, the drain threads' on their own: wait for the whole story.
  await until(async () => {
    const batch = batchOf()
    if (batch === undefined || inTrace(buyTrace).every((s) => s.name !== 'redis admitBuyer')) return false
    // Each stage may run on either thread, and each thread sends on its own timer.
    const reserve = childOf(batch, 'drain.reserve')
    const write = childOf(batch, 'drain.write')
    const finish = childOf(batch, 'drain.finish')
    return reserve !== undefined && write !== undefined && finish !== undefined &&
      childOf(reserve, 'redis reserveStock') !== undefined &&
      inTrace(batch.traceId).some((s) => s.parentSpanId === write.spanId && isMysql(s)) &&
      childOf(finish, 'redis finishTickets') !== undefined
  }, 30_000, 'the buy\'s spans and its batch\'s at the receiver').catch((err: Error) => {
    const seen = receiver.spans.map((r) => `${r.place} ${r.span.traceId.slice(0, 6)} ${r.span.spanId.slice(0, 6)}<${(r.span.parentSpanId ?? '').slice(0, 6)} ${r.span.name} ${JSON.stringify(r.span.links ?? [])}`)
    throw new Error(`${err.message}; spans received:\n${seen.join('\n')}`)
  })

  t.same(inTrace(unsampledTrace), [], 'the request its caller did not sample made no span (sent before the buy, whose spans arrived)')

  // The request: the HTTP server span (kind SERVER = 2), named by its Fastify route.
  // Issue 30, item 6: no client address and no query string on a request's span.
  await until(async () => inTrace(pollTrace).some((s) => s.kind === 2), 30_000, 'the poll\'s server span')
  const poll = inTrace(pollTrace).find((s) => s.kind === 2) as OtlpSpan
  for (const key of ['client.address', 'network.peer.address', 'network.peer.port', 'url.query']) t.equal(attribute(poll, key), undefined, `no ${key} on the server span`)
  const withAddress = (poll.attributes ?? []).filter((a) => JSON.stringify(a.value).includes('127.0.0.1')).map((a) => a.key)
  t.same(withAddress, ['server.address'], 'the client\'s address is nowhere (the server\'s own, from Host, stays)')
  t.notMatch(JSON.stringify(poll.attributes), /wait=/, 'nor the query')
  t.equal(attribute(poll, 'url.path'), `/api/v1/tickets/${ticketId}`, 'the path is kept')

  const buySpans = inTrace(buyTrace)
  const server = buySpans.find((s) => s.kind === 2)
  t.equal(server?.name, 'POST /api/v1/events/:id/buy', 'the buy request\'s server span, in the client\'s trace, names the route')
  t.equal(server === undefined ? undefined : attribute(server, 'http.route'), '/api/v1/events/:id/buy')
  const admit = buySpans.find((s) => s.name === 'redis admitBuyer') as OtlpSpan
  t.equal(attribute(admit, 'seckill.script'), 'admitBuyer')
  const statement = String(attribute(admit, 'db.statement') ?? attribute(admit, 'db.query.text') ?? '')
  t.notMatch(statement, String(buyer), 'the admission span carries no argument of the buyer')

  // The batch: its own trace, linked to the buy (to the span that was active at admission).
  const batch = batchOf() as OtlpSpan
  t.not(batch.traceId, buyTrace, 'the batch is a trace of its own')
  const link = (batch.links ?? []).find((l) => l.traceId === buyTrace)
  t.ok(buySpans.some((s) => s.spanId === link?.spanId), 'the link points at a span of the buy\'s trace')
  t.equal(attribute(batch, 'seckill.event_id'), eventId)
  t.equal(receiver.spans.find((r) => r.span.spanId === batch.spanId)?.place, 'process', 'the batch span is the dispatcher\'s')

  // Its stages on a drain thread: the reservation, the MySQL transaction, the outcome.
  const reserve = childOf(batch, 'drain.reserve')
  t.ok(reserve !== undefined && childOf(reserve, 'redis reserveStock') !== undefined, 'reserve: the reserveStock script under it')
  const write = childOf(batch, 'drain.write') as OtlpSpan
  t.equal(receiver.spans.find((r) => r.span.spanId === write.spanId)?.place, 'drain-thread', 'the stages run on a drain thread')
  const queries = inTrace(batch.traceId).filter((s) => s.parentSpanId === write.spanId && isMysql(s))
  t.ok(queries.length > 0, `the write's MySQL queries are under it (${queries.length})`)
  for (const q of queries) {
    const text = String(attribute(q, 'db.statement') ?? attribute(q, 'db.query.text') ?? '')
    t.notMatch(text, new RegExp(`\\b${buyer}\\b`), `values are masked in ${q.name}`)
  }
  const finish = childOf(batch, 'drain.finish') as OtlpSpan
  t.ok(childOf(finish, 'redis finishTickets'), 'finish: the outcome written by finishTickets under it')

  // Logs inside a traced request carry its trace id (the admin write is logged).
  const logged = service.output().split('\n').filter((l) => l.includes('"admin write"'))
  t.ok(logged.some((l) => l.includes(`"trace_id":"${adminTrace}"`)), 'the admin write\'s log line carries the request\'s trace id', { logged })
  t.equal(await service.stop(), '0', 'stops cleanly with tracing on')
})

t.test('tracing off (the default): no trace context is stored with a job', async (t) => {
  const env = await testEnv(t)
  const port = await freePort()
  const service = spawnService(env, { PROCESS_ROLE: 'ingress', PORT: String(port) })
  const http = httpClient(`http://127.0.0.1:${port}`)
  await whenReady(service, http.base)
  const admin = env.token(1, 'admin')
  const product = await http.request('POST', '/api/v1/admin/products', { token: admin, body: { title: 'Untraced', price_cents: 100 } })
  const start = Date.now() - 1000
  const event = await http.request('POST', '/api/v1/admin/events', {
    token: admin,
    body: { product_id: product.body.data.id, title: 'Untraced drop', price_cents: 100, stock: 5, start_at: new Date(start).toISOString(), end_at: new Date(start + 3_600_000).toISOString() }
  })
  const eventId = event.body.data.id as number
  const buy = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(7), headers: { traceparent: `00-${hex(16)}-${hex(8)}-01` } })
  t.equal(buy.status, 202)
  const jobKey = `${env.keys.buyQueue({ eventId, shard: 0 }).jobPrefix}${buy.body.data.ticket_id as string}`
  const fields = await env.redis.hkeys(jobKey)
  t.ok(fields.includes('data'), 'the job is there')
  t.notOk(fields.includes('tp'), 'and carries no trace context')
})

// Issue 30, item 5: a traceparent with the sampled flag made spans under parentbased_traceidratio,
// so anyone could have every request of theirs traced (at 100 % admitted buys ran at 42 %). A
// caller's trace context is now followed only from TRACE_TRUSTED_PARENTS.
t.test('the public cannot force sampling: an untrusted caller\'s sampled flag is ignored', async (t) => {
  const env = await testEnv(t)
  const receiver = await otlpReceiver(t)
  const port = await freePort()
  const service = spawnService(env, {
    PROCESS_ROLE: 'ingress',
    PORT: String(port),
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0',
    OTEL_BSP_SCHEDULE_DELAY: '100',
    TRACE_TRUSTED_PARENTS: '10.9.9.9'
  })
  const http = httpClient(`http://127.0.0.1:${port}`)
  await whenReady(service, http.base)
  const forced = hex(16)
  for (let i = 0; i < 20; i++) t.equal((await http.request('GET', '/api/v1/time', { headers: { traceparent: `00-${forced}-${hex(8)}-01` } })).status, 200)
  // A span of the service's own to wait for: a trusted-looking header cannot make one, so the
  // receiver must stay empty; give the exporter (100 ms) several rounds to prove it.
  await new Promise((resolve) => setTimeout(resolve, 1000))
  t.same(receiver.spans.map((r) => r.span.name), [], 'twenty sampled traceparents from an untrusted address: no span at all (ratio 0 decides)')
  t.equal(await service.stop(), '0')
})
