import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type Piscina from 'piscina'
import { StagePool } from '../../workers/stage-pool'
import type { DrainTask } from '../../workers/thread-protocol'
import type { DrainBatchInput, Written } from '../../workers/drain-batch'
import { toReservationWire, toWrittenWire } from '../../workers/thread-protocol'

t.test('one stage per thread at a time; a stage\'s timeout counts its run, not its wait', async (t) => {
  let running = 0
  let most = 0
  const threads = {
    async run (_task: DrainTask, opts: { signal: AbortSignal }): Promise<string> {
      running++
      most = Math.max(most, running)
      try {
        await sleep(150)
        if (opts.signal.aborted) throw new Error('aborted')
        return 'done'
      } finally {
        running--
      }
    }
  } as unknown as Piscina
  const stages = new StagePool(threads, 2)
  const task = { stage: 'reserve', input: { eventId: 1, shard: 0, shards: 1, leaseToken: 'l', fence: 1, positions: [1], rate: 0 } } as const
  // Six stages of 150 ms on two threads: the last ones wait 300 ms, longer than their 250 ms limit.
  const results = await Promise.allSettled(Array.from({ length: 6 }, async () => await stages.run<string>(task, 250)))
  t.equal(most, 2, 'never more stages running than threads')
  t.same(results.map((r) => r.status), new Array(6).fill('fulfilled'), 'no stage timed out while waiting for a thread')
})

const input = (eventId: number): DrainBatchInput => ({ eventId, shard: 0, shards: 1, leaseToken: 'l', fence: 1, positions: [1], rate: 0 })
const reservation = toReservationWire({ leaseLost: false, tickets: [], holding: [], skipped: [], siblingsFree: [], reserveMs: 0 })
const nothingWritten = toWrittenWire({ leaseLost: false, results: [], writeMs: 0 })

t.test('stages of one kind that wait for a thread go in one task; each settles alone, a failed joint task part by part', async (t) => {
  const tasks: DrainTask[] = []
  let failJoint = false
  const threads = {
    async run (task: DrainTask): Promise<unknown> {
      tasks.push(task)
      if (task.stage === 'finish') { await sleep(100); return 'finished' }
      if (task.stage === 'many') {
        if (failJoint) throw new Error('joint task failed')
        return task.parts.map((p) => p.input.eventId === 23
          ? { status: 'rejected', reason: new Error('part 23 failed') }
          : { status: 'fulfilled', value: { leaseLost: false, results: [], writeMs: p.input.eventId } })
      }
      if (task.stage === 'write' && task.input.eventId === 13) throw new Error('part 13 fails alone too')
      return { leaseLost: false, results: [], writeMs: task.stage === 'write' ? task.input.eventId : 0 }
    }
  } as unknown as Piscina
  const stages = new StagePool(threads, 2)
  const occupy = (): Array<Promise<unknown>> => [1, 2].map(async () => await stages.run({ stage: 'finish', input: input(0), reservation, written: nothingWritten }, 5000))
  const write = async (e: number): Promise<Written> => await stages.stage<Written>({ stage: 'write', input: input(e), reservation }, 5000)

  let busy = occupy()
  const written = await Promise.all([1, 2, 3, 4, 5].map(write))
  await Promise.all(busy)
  t.same(written.map((w) => w.writeMs), [1, 2, 3, 4, 5], 'each write gets its own result')
  t.same(tasks.filter((x) => x.stage !== 'finish').map((x) => x.stage === 'many' ? `many ${x.kind} x${x.parts.length}` : x.stage), ['many write x5'], 'five writes that waited for a thread ran as one task')

  tasks.length = 0
  busy = occupy()
  const reserved = await Promise.allSettled([21, 22, 23].map(async (e) => await stages.stage({ stage: 'reserve', input: input(e) }, 5000)))
  await Promise.all(busy)
  t.same(reserved.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected'], 'in a joint task each part settles alone')
  t.same(tasks.filter((x) => x.stage !== 'finish').map((x) => x.stage === 'many' ? `many ${x.kind} x${x.parts.length}` : x.stage), ['many reserve x3'])

  tasks.length = 0
  failJoint = true
  busy = occupy()
  const settled = await Promise.allSettled([11, 12, 13].map(write))
  await Promise.all(busy)
  t.same(settled.map((s) => s.status), ['fulfilled', 'fulfilled', 'rejected'], 'a joint task that fails as a whole: only the part that fails alone fails')
  t.same(tasks.filter((x) => x.stage !== 'finish').map((x) => x.stage === 'many' ? `many ${x.kind} x${x.parts.length}` : x.stage), ['many write x3', 'write', 'write', 'write'], 'the joint task, then each part alone')
})
