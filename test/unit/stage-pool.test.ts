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
