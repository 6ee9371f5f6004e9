/**
 * The drain pipeline's ordering rules, with a stand-in for the thread pool that records when each
 * stage of each batch starts and ends (the stages themselves are tested against Redis and MySQL in
 * test/drain and test/lua).
 */
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { BatchPipeline } from '../../workers/drain/batch-pipeline'
import type { StagePool } from '../../workers/stage-pool'
import type { StagePart } from '../../workers/thread-protocol'
import type { DrainBatchInput, DrainBatchResult, Reservation, Written } from '../../workers/drain-batch'

type Stage = 'reserve' | 'write' | 'finish'
interface Entry { readonly batch: number, readonly stage: Stage, readonly at: 'start' | 'end' }

function recordingPool (ms: Record<Stage, number>, failAt?: { batch: number, stage: Stage }): { pool: StagePool, log: Entry[] } {
  const log: Entry[] = []
  let failed = false
  const record = async (batch: number, stage: Stage): Promise<void> => {
    log.push({ batch, stage, at: 'start' })
    await sleep(ms[stage])
    if (!failed && failAt?.batch === batch && failAt.stage === stage) {
      failed = true // once: the retry succeeds
      throw new Error(`batch ${batch} ${stage} failed`)
    }
    log.push({ batch, stage, at: 'end' })
  }
  const pool = {
    async stage (part: StagePart): Promise<Reservation | Written | DrainBatchResult> {
      await record(part.input.eventId, part.stage)
      if (part.stage === 'reserve') return { leaseLost: false, tickets: [], holding: [], skipped: [], siblingsFree: [], reserveMs: 0 }
      if (part.stage === 'write') return { leaseLost: false, results: [], writeMs: 0 }
      return { leaseLost: false, outcomes: [], stock: 1, pending: 0, siblingsFree: [], reserveMs: 0, writeMs: 0, finishMs: 0 }
    }
  }
  return { pool: pool as unknown as StagePool, log }
}

const input = (batch: number): DrainBatchInput => ({ eventId: batch, shard: 0, shards: 1, leaseToken: 'l', fence: 1, positions: [batch], rate: 0 })
const index = (log: Entry[], batch: number, stage: Stage, at: Entry['at']): number => log.findIndex((e) => e.batch === batch && e.stage === stage && e.at === at)

t.test('each stage runs in batch order, and consecutive batches overlap', async (t) => {
  const { pool, log } = recordingPool({ reserve: 5, write: 30, finish: 5 })
  const pipeline = new BatchPipeline(pool, 10_000)
  await Promise.all([1, 2, 3].map((b) => pipeline.launch(input(b))))
  for (const stage of ['reserve', 'write', 'finish'] as const) {
    for (const b of [2, 3]) {
      t.ok(index(log, b, stage, 'start') > index(log, b - 1, stage, 'end'), `batch ${b} ${stage} starts after batch ${b - 1} ${stage} ended`)
    }
  }
  t.ok(index(log, 2, 'reserve', 'end') < index(log, 1, 'write', 'end'), 'batch 2 reserves while batch 1 writes')
  t.ok(index(log, 2, 'write', 'start') < index(log, 1, 'finish', 'end') || index(log, 1, 'finish', 'start') < index(log, 2, 'write', 'end'), 'batch 2 writes while batch 1 finishes')
})

t.test('a failed stage fails the batches behind it before they run that stage', async (t) => {
  const { pool, log } = recordingPool({ reserve: 5, write: 20, finish: 5 }, { batch: 2, stage: 'write' })
  const pipeline = new BatchPipeline(pool, 10_000)
  const results = await Promise.allSettled([1, 2, 3].map((b) => pipeline.launch(input(b))))
  t.equal(results[0]?.status, 'fulfilled', 'the batch before the failure ends')
  t.equal(results[1]?.status, 'rejected', 'the failed batch rejects')
  t.equal(results[2]?.status, 'rejected', 'the batch behind it rejects too')
  t.equal(index(log, 3, 'write', 'start'), -1, 'batch 3 never wrote ahead of batch 2')
  t.equal(index(log, 3, 'finish', 'start'), -1, 'nor finished')
  t.equal(index(log, 2, 'finish', 'start'), -1, 'the failed batch did not finish')

  // The drainer resets the chain and launches the failed batches again, in order.
  pipeline.reset()
  log.length = 0
  const retried = await Promise.allSettled([2, 3].map((b) => pipeline.launch(input(b))))
  t.same(retried.map((r) => r.status), ['fulfilled', 'fulfilled'], 'the retried batches end')
  t.ok(index(log, 3, 'write', 'start') > index(log, 2, 'write', 'end'), 'in order')
})

t.test('a batch whose reservation found the lease gone writes nothing', async (t) => {
  const calls: string[] = []
  const pool = {
    async stage (part: StagePart): Promise<Reservation | Written> {
      calls.push(part.stage)
      if (part.stage === 'reserve') return { leaseLost: true, tickets: [], holding: [], skipped: [], siblingsFree: [], reserveMs: 0 }
      return { leaseLost: false, results: [], writeMs: 0 }
    }
  } as unknown as StagePool
  const result = await new BatchPipeline(pool, 10_000).launch(input(1))
  t.equal(result.leaseLost, true)
  t.same(calls, ['reserve'], 'no write, no finish')
})
