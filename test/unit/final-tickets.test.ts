import t from 'tap'
import { FinalTickets } from '../../src/sale/final-tickets'

t.test('final tickets: owner or admin only, queued never kept, the coldest evicted first', async (t) => {
  const finals = new FinalTickets(2)
  finals.remember('1-0-1', '11', { ticket_id: '1-0-1', status: 'won', order_id: '7' })
  finals.remember('1-0-2', '12', { ticket_id: '1-0-2', status: 'queued', position: 1, eta_ms: 1 })
  t.same(finals.get('1-0-1', '11', false), { ticket_id: '1-0-1', status: 'won', order_id: '7' }, 'the owner reads it')
  t.equal(finals.get('1-0-1', '99', false), undefined, 'another buyer does not')
  t.ok(finals.get('1-0-1', '99', true), 'an admin does')
  t.equal(finals.get('1-0-2', '12', false), undefined, 'a queued ticket is not kept')

  finals.remember('1-0-3', '13', { ticket_id: '1-0-3', status: 'sold_out' })
  finals.get('1-0-1', '11', false) // 1-0-1 is now the most recently read
  finals.remember('1-0-4', '14', { ticket_id: '1-0-4', status: 'failed', reason: 'already_ordered' })
  t.equal(finals.size, 2, 'bounded')
  t.equal(finals.get('1-0-3', '13', false), undefined, 'the coldest went first')
  t.ok(finals.get('1-0-1', '11', false), 'the one read recently stayed')

  const none = new FinalTickets(0)
  none.remember('1-0-1', '11', { ticket_id: '1-0-1', status: 'sold_out' })
  t.equal(none.size, 0, 'capacity 0 keeps nothing')
})
