/**
 * The watched sale, live, sampled once a second from one stats request that covers every process:
 * arrivals and decisions each on their own chart (at 300 arrivals a second a 4 a second drain is
 * no longer a flat line), the drain's rate, the time to clear the line, the oldest wait, the buy
 * p99 across every ingress, units left beside units promised to buyers in line, orders and
 * payments; and a warning, in words, when a line stops moving for any reason (no worker, a batch
 * that does not finish, a breaker open), or a note when the operator paused it.
 */
import { api, describe, el } from './api'
import type { SaleStats, Session, ShardStats } from './api'
import { LineChart } from './chart'
import { count, duration, m, roughDuration } from './i18n'

/** A sample older than this is said to be stale. */
const STALE_AFTER_MS = 3000
/** Buyers in line with nothing decided for this long: the page warns. */
export const STUCK_AFTER_MS = 10_000
/** Samples the drain rate is averaged over. */
const RATE_SAMPLES = 5

export function watchSale (panel: HTMLElement, session: Session, id: number): () => void {
  const w = m()
  const numbers = el('dl', { id: 'numbers' })
  const charts = {
    arriving: new LineChart(w.opsChartArriving, '/s'),
    decided: new LineChart(w.opsChartDecided, '/s'),
    line: new LineChart(w.opsChartLine, ''),
    units: new LineChart(w.opsChartUnits, '')
  }
  const message = el('p', { class: 'message', role: 'alert' })
  const freshness = el('p', { id: 'freshness', class: 'message', role: 'status' })
  // Said in words, and only when it changes (role=alert is read on change).
  const stuck = el('p', { id: 'stuck', class: 'message', role: 'alert' })
  const held = el('p', { id: 'held', class: 'notice', role: 'status' })
  const owners = el('p', { id: 'owners' })
  const phone = window.matchMedia('(max-width: 40rem)').matches
  const chartBox = el('details', { class: 'charts-box', ...(phone ? {} : { open: '' }) }, el('summary', {}, w.opsCharts),
    el('div', { class: 'charts' }, ...Object.values(charts).map((c) => c.element)))
  panel.replaceChildren(freshness, stuck, held, numbers, owners, chartBox, message)

  let previous: SaleStats | undefined
  const decidedRates: number[] = []
  let lastSampleAt = Date.now()
  let progressAt = Date.now()
  let lastDecided = -1
  const sum = (s: SaleStats, f: (x: ShardStats) => number): number => s.shards.reduce((a, x) => a + f(x), 0)

  const sample = async (): Promise<void> => {
    const s = await api<SaleStats>('GET', `/admin/events/${id}/stats`, { session })
    lastSampleAt = Date.now()
    const admitted = sum(s, (x) => x.admitted)
    const decided = sum(s, (x) => x.decided)
    const turned = sum(s, (x) => x.turned_away)
    const inLine = sum(s, (x) => x.in_line)
    const oldest = Math.max(-1, ...s.shards.map((x) => x.oldest_wait_ms ?? -1))
    const seconds = previous === undefined ? 1 : Math.max(0.001, (s.at - previous.at) / 1000)
    const rateOf = (now: number, then: number): number => Math.max(0, (now - then) / seconds)
    const arriving = previous === undefined ? 0 : rateOf(admitted + turned, sum(previous, (x) => x.admitted + x.turned_away))
    const decidedNow = previous === undefined ? 0 : rateOf(decided, sum(previous, (x) => x.decided))
    if (previous !== undefined) {
      decidedRates.push(decidedNow)
      if (decidedRates.length > RATE_SAMPLES) decidedRates.shift()
    }
    const drainRate = decidedRates.length === 0 ? 0 : decidedRates.reduce((a, b) => a + b, 0) / decidedRates.length
    const left = Math.max(0, s.stock - s.sold)
    const promised = Math.min(left, inLine)
    charts.arriving.push({ [w.opsArriving]: Math.round(arriving) })
    charts.decided.push({ [w.opsDecidedRate]: Math.round(decidedNow * 10) / 10 })
    charts.line.push(Object.fromEntries(s.shards.map((x) => [w.opsShardN(x.shard), x.in_line])))
    charts.units.push({ [w.opsUnitsLeft]: left, [w.opsPromised]: promised })

    if (decided !== lastDecided || inLine === 0 || s.paused) { lastDecided = decided; progressAt = Date.now() }
    const stalled = Date.now() - progressAt
    const warning = inLine > 0 && stalled >= STUCK_AFTER_MS
      ? w.opsStuck(count(inLine), duration(stalled), s.workers.length === 0 ? w.opsStuckNoWorker : w.opsStuckBatch(duration(Math.max(oldest, stalled))))
      : ''
    if (stuck.textContent !== warning) stuck.textContent = warning
    const note = s.paused ? w.opsHeld(count(inLine)) : ''
    if (held.textContent !== note) held.textContent = note
    owners.textContent = w.opsOwners(s.workers.length === 0 ? w.opsNone : s.workers.map((x) => w.opsWorkerSeen(x.id, (x.seen_ms_ago / 1000).toFixed(1))).join(', '),
      s.shards.map((x) => `${x.shard} → ${x.owner ?? w.opsNoWorker}`).join(', '))
    const row = (key: string, label: string, v: string): HTMLElement => el('div', {}, el('dt', {}, label), el('dd', { 'data-stat': key }, v))
    numbers.replaceChildren(
      row('status', w.opsStatus, s.paused ? w.opsStatusPaused : w.opsStatusLive),
      row('units', w.opsUnits, count(s.stock)), row('sold', w.opsSold, count(s.sold)),
      row('left', w.opsUnitsLeft, count(left)), row('promised', w.opsPromised, count(promised)), row('free', w.opsFree, count(left - promised)),
      row('in-line', w.opsInLine, count(inLine)), row('oldest-wait', w.opsOldestWait, oldest < 0 ? '—' : duration(oldest)),
      row('drain-rate', w.opsDrainRate, w.opsPerSecond((Math.round(drainRate * 10) / 10).toString())),
      row('clear-in', w.opsClearIn, inLine === 0 ? '—' : drainRate > 0 ? roughDuration(inLine / drainRate * 1000) : w.opsNotMoving),
      row('admitted', w.opsAdmitted, count(admitted)), row('decided', w.opsDecided, count(decided)), row('turned-away', w.opsTurnedAway, count(turned)),
      row('p99', w.opsP99, s.buy_p99_ms === null ? w.opsNoBuys : `${s.buy_p99_ms} ms`),
      row('paid', w.opsPaid, count(s.orders.paid)), row('awaiting', w.opsAwaiting, count(s.orders.pending_payment)),
      row('cancelled', w.opsCancelled, count(s.orders.cancelled)), row('expired', w.opsExpired, count(s.orders.expired)), row('refunded', w.opsRefunded, count(s.orders.refunded)),
      row('captured', w.opsCaptured, count(s.payments.captured)), row('payments-pending', w.opsPaymentsPending, count(s.payments.pending)),
      row('payments-failed', w.opsPaymentsFailed, count(s.payments.failed)), row('payments-refunded', w.opsPaymentsRefunded, count(s.payments.refunded + s.payments.refunding)))
    previous = s
  }
  const tick = (): void => {
    sample().then(() => { message.textContent = '' }).catch((err: unknown) => { message.textContent = describe(err) })
      .finally(() => {
        const age = Date.now() - lastSampleAt
        const text = age >= STALE_AFTER_MS ? w.opsStale(duration(age)) : ''
        if (freshness.textContent !== text) freshness.textContent = text
      })
  }
  tick()
  const timer = window.setInterval(tick, 1000)
  return () => window.clearInterval(timer)
}
