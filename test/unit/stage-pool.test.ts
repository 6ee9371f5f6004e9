import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type Piscina from 'piscina'
import { StagePool } from '../../workers/stage-pool'
import type { DrainTask } from '../../workers/drain-task'

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

const part = (eventId: number): { input: { eventId: number, shard: number, shards: number, leaseToken: string, fence: number, positions: number[], rate: number }, reservation: { leaseLost: false, tickets: [], holding: [], skipped: [], siblingsFree: [], reserveMs: 0 } } =>
  ({ input: { eventId, shard: 0, shards: 1, leaseToken: 'l', fence: 1, positions: [1], rate: 0 }, reservation: { leaseLost: false, tickets: [], holding: [], skipped: [], siblingsFree: [], reserveMs: 0 } })

t.test('writes waiting for a thread go in one task; a failed joint write is retried part by part', async (t) => {
  const tasks: DrainTask[] = []
  let failJoint = false
  const threads = {
    async run (task: DrainTask): Promise<unknown> {
      tasks.push(task)
      if (task.stage === 'reserve') { await sleep(100); return 'reserved' }
      if (task.stage === 'write-many') {
        if (failJoint) throw new Error('joint write failed')
        return task.parts.map((p) => ({ leaseLost: false, results: [], writeMs: p.input.eventId }))
      }
      if (task.stage === 'write' && task.input.eventId === 13) throw new Error('part 13 fails alone too')
      return { leaseLost: false, results: [], writeMs: task.stage === 'write' ? task.input.eventId : 0 }
    }
  } as unknown as Piscina
  const stages = new StagePool(threads, 2)
  const busy = [stages.run({ stage: 'reserve', input: part(0).input }, 5000), stages.run({ stage: 'reserve', input: part(0).input }, 5000)]
  const written = await Promise.all([1, 2, 3, 4, 5].map(async (e) => await stages.write(part(e), 5000)))
  await Promise.all(busy)
  t.same(written.map((w) => w.writeMs), [1, 2, 3, 4, 5], 'each write gets its own result')
  t.same(tasks.filter((x) => x.stage !== 'reserve').map((x) => x.stage), ['write-many'], 'five writes that waited for a thread ran as one task')

  tasks.length = 0
  failJoint = true
  const busy2 = [stages.run({ stage: 'reserve', input: part(0).input }, 5000), stages.run({ stage: 'reserve', input: part(0).input }, 5000)]
  const settled = await Promise.allSettled([11, 12, 13].map(async (e) => await stages.write(part(e), 5000)))
  await Promise.all(busy2)
  t.same(settled.map((s) => s.status), ['fulfilled', 'fulfilled', 'rejected'], 'only the part that fails alone fails')
  t.same(tasks.filter((x) => x.stage !== 'reserve').map((x) => x.stage), ['write-many', 'write', 'write', 'write'], 'the joint write, then each part alone')
})
