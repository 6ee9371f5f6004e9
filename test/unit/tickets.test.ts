import t from 'tap'
import { parseStoredTicket, ticketView } from '../../src/sale/tickets'
import { parseTicketId, queuedTicketId, rejectedTicketId, shardOf } from '../../src/shared/ticket-ids'
import { splitStock } from '../../src/stock'

t.test('ticket ids round-trip and malformed ones are refused', async (t) => {
  t.same(parseTicketId(queuedTicketId(42, 3, 17)), { kind: 'queued', eventId: 42, shard: 3, qpos: 17 })
  t.same(parseTicketId(rejectedTicketId(42, 0, '99')), { kind: 'rejected', eventId: 42, shard: 0, userId: '99' })
  for (const bad of ['', '42', '42-0', '42-0-0', '0-0-1', '42--1', '42-0-x', '42-0-1;DROP', '42-0-01', 'a-b-c', '1-1234-1']) {
    t.equal(parseTicketId(bad), undefined, JSON.stringify(bad))
  }
})

t.test('shards: stable per buyer and spread evenly', async (t) => {
  t.equal(shardOf('123', 1), 0)
  t.equal(shardOf('123', 4), shardOf('123', 4))
  const counts = [0, 0, 0, 0]
  for (let u = 1; u <= 10_000; u++) counts[shardOf(String(u), 4)]!++
  for (const c of counts) t.ok(c > 2200 && c < 2800, `shard share ${c} of 10000`)
})

t.test('stock splits over shards without losing a unit', async (t) => {
  t.same(splitStock(10, 4), [3, 3, 2, 2])
  t.same(splitStock(500, 1), [500])
  t.equal(splitStock(1001, 7).reduce((a, b) => a + b, 0), 1001)
})

t.test('stored tickets and their view', async (t) => {
  t.same(parseStoredTicket('7|won|55'), { userId: '7', status: 'won', detail: '55' })
  t.equal(parseStoredTicket('7|bogus|'), undefined)
  t.equal(parseStoredTicket('garbage'), undefined)
  t.same(ticketView('1-0-10', { userId: '7', status: 'queued', detail: '' }, 10, 4, 1000), { ticket_id: '1-0-10', status: 'queued', position: 6, eta_ms: 6 })
  t.same(ticketView('1-0-10', { userId: '7', status: 'won', detail: '55' }, 10, 10, undefined), { ticket_id: '1-0-10', status: 'won', order_id: '55' })
  // Issue 32 item 7: no measured pace, no ETA (it was 5,000 tickets/s assumed: "about 1 s" for a 26 s wait).
  t.same(ticketView('1-0-10', { userId: '7', status: 'queued', detail: '' }, 10, 4, undefined), { ticket_id: '1-0-10', status: 'queued', position: 6 })
})
