/** The long-poll wake-up: the drain's outcome message, over real Redis pub/sub. */
import t from 'tap'
import { OutcomeBus } from '../../src/sale/outcome-bus'
import type { WaitRefusal, Waiter } from '../../src/sale/outcome-bus'
import { createLogger } from '../../src/logger'
import { testEnv } from '../helpers/env'

t.test('outcome messages wake each waiting ticket with its outcome; other tickets keep waiting', async (t) => {
  const env = await testEnv(t)
  const noop = (): void => undefined
  const bus = new OutcomeBus(env.redis.duplicate(), env.keys, { onSoldOut: noop, onReopened: noop, onRetired: noop, onCatalogChanged: noop }, createLogger('silent', 'test'))
  await bus.start()
  t.teardown(async () => { await bus.close() })
  const waiting = (w: Waiter | WaitRefusal): Waiter => {
    if (typeof w === 'string') throw new Error(`refused: ${w}`)
    return w
  }
  const won = waiting(bus.wait('5-0-1', 5000, 'u1'))
  const failed = waiting(bus.wait('5-0-3', 5000, 'u3'))
  const bare = waiting(bus.wait('5-1-7', 5000, 'u7'))
  const untouched = waiting(bus.wait('5-0-9', 300, 'u9'))
  t.equal(bus.waiting, 4)
  await env.redis.publish(env.keys.outcomeChannel, 'e5.0:1=won/501,2=sold_out,3=failed/already_ordered')
  await env.redis.publish(env.keys.outcomeChannel, 'e5.1:7')
  t.same(await won.changed, { status: 'won', detail: '501' }, 'the winner learns its order')
  t.same(await failed.changed, { status: 'failed', detail: 'already_ordered' }, 'a failed ticket learns why')
  t.equal(await bare.changed, undefined, 'a message without outcomes wakes the waiter to read the ticket itself')
  t.equal(await untouched.changed, undefined, 'a ticket not in any message waits until its timer')
  for (const w of [won, failed, bare, untouched]) w.cancel()
  t.equal(bus.waiting, 0, 'nobody left waiting')
})

t.test('waiting is bounded: a buyer past its share and a process past its cap are refused, and a slot frees when a wait ends', async (t) => {
  const env = await testEnv(t)
  const noop = (): void => undefined
  const bus = new OutcomeBus(env.redis.duplicate(), env.keys, { onSoldOut: noop, onReopened: noop, onRetired: noop, onCatalogChanged: noop }, createLogger('silent', 'test'), { maxWaiting: 5, perBuyer: 2 })
  await bus.start()
  t.teardown(async () => { await bus.close() })
  const a1 = bus.wait('6-0-1', 5000, 'a')
  const a2 = bus.wait('6-0-1', 5000, 'a')
  t.equal(bus.wait('6-0-1', 5000, 'a'), 'buyer_limit', 'a buyer\'s third long-poll does not wait')
  const others = ['b', 'c', 'd'].map((u) => bus.wait(`6-0-${u}`, 5000, u))
  t.equal(bus.waiting, 5)
  t.equal(bus.wait('6-0-9', 5000, 'e'), 'ingress_full', 'past the process\'s cap nobody else waits')
  if (typeof a1 !== 'string') a1.cancel()
  t.equal(bus.waiting, 4, 'a wait that ends frees its slot')
  const again = bus.wait('6-0-1', 5000, 'a')
  t.not(typeof again, 'string', 'and the buyer\'s share')
  for (const w of [a2, again, ...others]) if (typeof w !== 'string') w.cancel()
  t.equal(bus.waiting, 0)
})
