/**
 * `node --expose-gc dist/bench/request-overheads.js`: per-request pieces issue 35 changed, each
 * timed before and after in one process, the two alternating in short slices (so a busy machine
 * falls on both), CPU µs per operation, median (min–max) of the slices' figures. For changes too
 * small to resolve in `npm run bench:cost` on a shared machine (its pairs move by ±20 % and more).
 * BENCH_SLICES (20).
 */
import { createKeySpace } from '../src/redis/keys'
import { admitCall } from '../src/redis/commands'
import { scriptArgIndex, scriptArgv } from '../src/redis/scripts'
import { envNumber, median } from './results-file'

const SLICES = envNumber('BENCH_SLICES', 20)

/** CPU µs per operation of `ops` calls of `fn` (awaited when it returns a promise). */
async function time (ops: number, fn: (i: number) => unknown): Promise<number> {
  (globalThis as { gc?: () => void }).gc?.()
  const before = process.cpuUsage()
  for (let i = 0; i < ops; i++) {
    const r = fn(i)
    if (r instanceof Promise) await r
  }
  const spent = process.cpuUsage(before)
  return (spent.user + spent.system) / ops
}

async function compare (name: string, ops: number, before: (i: number) => unknown, after: (i: number) => unknown): Promise<void> {
  await time(ops, before)
  await time(ops, after)
  const a: number[] = []
  const b: number[] = []
  for (let s = 0; s < SLICES; s++) {
    if (s % 2 === 0) { a.push(await time(ops, before)); b.push(await time(ops, after)) } else { b.push(await time(ops, after)); a.push(await time(ops, before)) }
  }
  const stat = (xs: number[], d = 2): string => `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)})`
  process.stdout.write(`| ${name} | ${stat(a)} | ${stat(b)} | ${stat(b.map((x, i) => x - (a[i] as number)))} |\n`)
}

async function main (): Promise<void> {
  process.stdout.write(`${SLICES} slices each; CPU µs per operation, median (min–max).\n\n| piece | before | after | after − before (per slice) |\n|---|---|---|---|\n`)

  // The crowd's two onRequest hooks (the request id header, the token check's result) run by
  // Fastify's own hook runner: async functions (before) or callback hooks (after).
  const hooksModule = 'fastify/lib/hooks.js'
  const { onRequestHookRunner } = await import(hooksModule) as { onRequestHookRunner: (fns: unknown[], request: unknown, reply: unknown, cb: (err: unknown) => void) => void }
  const fakeRequest = { id: 'r', user: undefined as unknown }
  const fakeReply = { sent: false, headers: {} as Record<string, string> }
  const who = { id: '1', role: 'user' }
  const asyncHooks = [
    async (request: typeof fakeRequest, reply: typeof fakeReply) => { reply.headers['x-request-id'] = request.id },
    async (request: typeof fakeRequest) => { request.user = who }
  ]
  const callbackHooks = [
    (request: typeof fakeRequest, reply: typeof fakeReply, done: () => void) => { reply.headers['x-request-id'] = request.id; done() },
    (request: typeof fakeRequest, _reply: typeof fakeReply, done: () => void) => { request.user = who; done() }
  ]
  const runHooks = async (fns: unknown[]): Promise<void> => { await new Promise<void>((resolve) => { onRequestHookRunner(fns, fakeRequest, fakeReply, () => resolve()) }) }
  await compare('two onRequest hooks (per request)', 100_000, async () => { await runHooks(asyncHooks) }, async () => { await runHooks(callbackHooks) })

  // The admission's 32 keys and arguments: named and flattened (before), a copy of the shard's
  // prebuilt array with the buyer's three set (after).
  const keys = createKeySpace('bench')
  const ref = { eventId: 7, shard: 0 }
  const target = { k: keys.shard(ref), q: keys.buyQueue(ref), ticketPrefix: '7-0-', overbook: 1.1, rate: { max: 10, timeWindow: 60_000 } }
  const template = scriptArgv('admitBuyer', admitCall(target, '', ''))
  const [user, token, trace] = [scriptArgIndex('admitBuyer', 'userId'), scriptArgIndex('admitBuyer', 'buyToken'), scriptArgIndex('admitBuyer', 'traceParent')]
  await compare('admission arguments (per admitted buy)', 100_000,
    (i) => scriptArgv('admitBuyer', admitCall(target, String(i), undefined)),
    (i) => {
      const argv = template.slice()
      argv[user] = String(i)
      argv[token] = '-'
      argv[trace] = ''
      return argv
    })
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`request-overheads failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
