/** The long-poll wake-up: the drain's outcome message, over real Redis pub/sub. */
import t from 'tap'
import { OutcomeBus } from '../../src/domain/outcome-bus'
import { createLogger } from '../../src/logger'
import { testEnv } from '../helpers/env'

t.test('outcome messages wake each waiting ticket with its outcome; other tickets keep waiting', async (t) => {
  const env = await testEnv(t)
  const noop = (): void => undefined
  const bus = new OutcomeBus(env.redis.duplicate(), env.keys, { onSoldOut: noop, onReopened: noop, onCatalogChanged: noop }, createLogger('silent', 'test'))
  await bus.start()
  t.teardown(async () => { await bus.close() })
  const won = bus.wait('5-0-1', 5000)
  const failed = bus.wait('5-0-3', 5000)
  const bare = bus.wait('5-1-7', 5000)
  const untouched = bus.wait('5-0-9', 300)
  t.equal(bus.waiting, 4)
  await env.redis.publish(env.keys.outcomeChannel, 'e5.0:1=won/501,2=sold_out,3=failed/already_ordered')
  await env.redis.publish(env.keys.outcomeChannel, 'e5.1:7')
  t.same(await won?.changed, { status: 'won', detail: '501' }, 'the winner learns its order')
  t.same(await failed?.changed, { status: 'failed', detail: 'already_ordered' }, 'a failed ticket learns why')
  t.equal(await bare?.changed, undefined, 'a message without outcomes wakes the waiter to read the ticket itself')
  t.equal(await untouched?.changed, undefined, 'a ticket not in any message waits until its timer')
  for (const w of [won, failed, bare, untouched]) w?.cancel()
  t.equal(bus.waiting, 0, 'nobody left waiting')
})
