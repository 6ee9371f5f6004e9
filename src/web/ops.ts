/**
 * The operator page (admins only): create a sale, then watch it live — admissions a second, the
 * drain's pace, the queue per shard, outcomes, units left and the buy route's p99 — sampled once a
 * second from one small stats request.
 */
import { api, describe, el, loadSession, saveSession, signIn, whenSessionEnds } from './api'
import type { Page, SaleEvent, SaleStats, ShardStats } from './api'
import { LineChart } from './chart'


let session = loadSession()
whenSessionEnds(() => { session = undefined; start() })
let watchTimer: number | undefined
let pickerTimer: number | undefined
const view = document.getElementById('view') as HTMLElement
const account = document.getElementById('account') as HTMLElement

function renderAccount (): void {
  account.replaceChildren()
  if (session?.role === 'admin') {
    const out = el('button', { type: 'button', class: 'secondary' }, 'Sign out')
    out.addEventListener('click', () => { session = undefined; saveSession(undefined); start() })
    account.append(el('span', { id: 'signed-in' }, `Operator ${session.email}`), ' ', out)
    return
  }
  const email = el('input', { type: 'email', placeholder: 'admin email', required: '', 'aria-label': 'Email' })
  const password = el('input', { type: 'password', placeholder: 'password', required: '', 'aria-label': 'Password' })
  const message = el('p', { class: 'message', role: 'alert' }, session !== undefined ? 'This page is for operators; sign in with an admin account.' : '')
  const form = el('form', { class: 'signin' }, email, password, el('button', { type: 'submit', id: 'sign-in' }, 'Sign in'), message)
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    signIn('login', email.value, password.value).then((s) => {
      if (s.role !== 'admin') { message.textContent = 'This account is not an operator.'; return }
      session = s
      saveSession(s)
      start()
    }).catch((err: unknown) => { message.textContent = describe(err) })
  })
  account.append(form)
}

function field (label: string, input: HTMLInputElement): HTMLElement {
  return el('label', {}, label, ' ', input)
}

function createForm (onCreated: (id: number) => void): HTMLElement {
  const title = el('input', { name: 'title', value: 'Limited sneaker drop', required: '', maxlength: '200' })
  const price = el('input', { name: 'price', type: 'number', value: '99.00', min: '0.01', step: '0.01', required: '' })
  const stock = el('input', { name: 'stock', type: 'number', value: '100', min: '1', required: '' })
  const shards = el('input', { name: 'shards', type: 'number', value: '1', min: '1', max: '64', required: '' })
  const startIn = el('input', { name: 'start_in', type: 'number', value: '30', min: '3', required: '' })
  const minutes = el('input', { name: 'minutes', type: 'number', value: '60', min: '1', required: '' })
  const message = el('p', { class: 'message', role: 'alert' })
  const notice = el('p', { class: 'notice', role: 'status' })
  const form = el('form', { class: 'create', id: 'create-event' },
    el('h2', {}, 'New sale'),
    field('Title', title), field('Price', price), field('Units', stock), field('Shards', shards),
    field('Starts in (seconds)', startIn), field('Lasts (minutes)', minutes),
    el('button', { type: 'submit' }, 'Create sale'), message, notice)
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    const cents = Math.round(Number(price.value) * 100)
    const startAt = Date.now() + Number(startIn.value) * 1000
    api<{ id: number }>('POST', '/admin/products', { session, body: { title: title.value, price_cents: cents } })
      .then(async (product) => await api<SaleEvent>('POST', '/admin/events', {
        session,
        body: {
          product_id: product.id,
          title: title.value,
          price_cents: cents,
          stock: Number(stock.value),
          shards: Number(shards.value),
          start_at: new Date(startAt).toISOString(),
          end_at: new Date(startAt + Number(minutes.value) * 60_000).toISOString()
        }
      }))
      .then((event) => { message.textContent = ''; notice.textContent = `Sale ${event.id} created.`; onCreated(event.id) })
      .catch((err: unknown) => { notice.textContent = ''; message.textContent = describe(err) })
  })
  return form
}

/** A sample older than this is said to be stale. */
const STALE_AFTER_MS = 3000
/** Buyers waiting with nothing decided for this long: the page warns. */
const STUCK_AFTER_MS = 10_000

async function eventPicker (selected: number | undefined, onPick: (id: number) => void): Promise<HTMLElement> {
  const [active, upcoming] = await Promise.all([
    api<Page<SaleEvent>>('GET', '/events?status=active&sort=start_at,desc&page_size=50'),
    api<Page<SaleEvent>>('GET', '/events?status=upcoming&sort=start_at,asc&page_size=50')
  ])
  const select = el('select', { id: 'event-picker', 'aria-label': 'Sale to watch' },
    el('option', { value: '' }, 'Choose a sale to watch'),
    ...[...active.items, ...upcoming.items].map((e) => {
      const o = el('option', { value: String(e.id) }, `#${e.id} ${e.title} (${e.status.replace('_', ' ')})`)
      if (e.id === selected) o.setAttribute('selected', '')
      return o
    }))
  select.addEventListener('change', () => { if (select.value !== '') onPick(Number(select.value)) })
  return el('label', {}, 'Watching: ', select)
}

function watch (panel: HTMLElement, id: number): void {
  window.clearInterval(watchTimer)
  const numbers = el('dl', { id: 'numbers' })
  const charts = {
    flow: new LineChart('Buys arriving and tickets decided, per second', '/s'),
    depth: new LineChart('Waiting in line, per shard', ''),
    left: new LineChart('Units left', ''),
    latency: new LineChart('Buy p99 (this ingress)', ' ms')
  }
  const message = el('p', { class: 'message', role: 'alert' })
  // Trouble is said in words: a stale sample, and buyers waiting while nothing is decided.
  const freshness = el('p', { id: 'freshness', class: 'message', role: 'status' })
  const stuck = el('p', { id: 'stuck', class: 'message', role: 'alert' })
  const owners = el('p', { id: 'owners' })
  panel.replaceChildren(freshness, stuck, numbers, owners, el('div', { class: 'charts' }, ...Object.values(charts).map((c) => c.element)), message)
  let previous: SaleStats | undefined
  let lastSampleAt = Date.now()
  /** When the decided count last moved (or nobody waited). */
  let progressAt = Date.now()
  let lastDecided = -1
  let status = ''
  const refreshStatus = (): void => {
    api<SaleEvent>('GET', `/events/${id}`).then((e) => { status = e.status.replace('_', ' ') }).catch(() => undefined)
  }
  refreshStatus()
  const sample = async (): Promise<void> => {
    const s = await api<SaleStats>('GET', `/admin/events/${id}/stats`, { session })
    lastSampleAt = Date.now()
    const sum = (f: (x: ShardStats) => number): number => s.shards.reduce((a, x) => a + f(x), 0)
    const admitted = sum((x) => x.admitted)
    const decided = sum((x) => x.decided)
    const turned = sum((x) => x.turned_away)
    const seconds = previous === undefined ? 1 : Math.max(0.001, (s.at - previous.at) / 1000)
    const rate = (now: number, f: (x: SaleStats) => number): number => previous === undefined ? 0 : Math.max(0, (now - f(previous)) / seconds)
    const sumOf = (x: SaleStats, f: (y: ShardStats) => number): number => x.shards.reduce((a, y) => a + f(y), 0)
    charts.flow.push({
      arriving: Math.round(rate(admitted + turned, (p) => sumOf(p, (y) => y.admitted + y.turned_away))),
      decided: Math.round(rate(decided, (p) => sumOf(p, (y) => y.decided)))
    })
    charts.depth.push(Object.fromEntries(s.shards.map((x) => [`shard ${x.shard}`, x.waiting])))
    charts.left.push({ 'units left': s.stock - s.sold })
    charts.latency.push({ p99: s.buy_p99_ms })
    const waiting = sum((x) => x.waiting)
    if (decided !== lastDecided || waiting === 0) { lastDecided = decided; progressAt = Date.now() }
    const stalled = Date.now() - progressAt
    stuck.textContent = waiting > 0 && stalled >= STUCK_AFTER_MS
      ? `${waiting} ${waiting === 1 ? 'buyer waits' : 'buyers wait'} and nothing was decided for ${Math.round(stalled / 1000)} s. ${s.workers.length === 0 ? 'No worker is running: start one (PROCESS_ROLE=worker or all).' : 'Check the workers\' logs and MySQL.'}`
      : ''
    const ownerOf = (x: ShardStats): string => x.owner === null ? 'no worker' : x.owner
    owners.textContent = `Workers alive: ${s.workers.length === 0 ? 'none' : s.workers.map((w) => `${w.id} (seen ${(w.seen_ms_ago / 1000).toFixed(1)} s ago)`).join(', ')}. ` +
      `Shards: ${s.shards.map((x) => `${x.shard} → ${ownerOf(x)}`).join(', ')}.`
    const row = (k: string, v: string | number): HTMLElement => el('div', {}, el('dt', {}, k), el('dd', { 'data-stat': k }, String(v)))
    numbers.replaceChildren(
      row('Status', status), row('Units', s.stock), row('Sold (orders)', s.sold), row('Units left', s.stock - s.sold),
      row('Paid', s.orders.paid), row('Awaiting payment', s.orders.pending_payment), row('Cancelled', s.orders.cancelled), row('Expired', s.orders.expired),
      row('Admitted to the line', admitted), row('Decided by the drain', decided),
      row('Waiting in line', sum((x) => x.waiting)), row('Turned away (sold out)', turned),
      row('Buy p99 (this ingress)', s.buy_p99_ms === null ? 'no buys this second' : `${s.buy_p99_ms} ms`))
    previous = s
  }
  let ticks = 0
  const tick = (): void => {
    if (ticks++ % 5 === 0) refreshStatus()
    sample().then(() => { message.textContent = '' }).catch((err: unknown) => { message.textContent = describe(err) })
      .finally(() => {
        const age = Date.now() - lastSampleAt
        freshness.textContent = age >= STALE_AFTER_MS ? `Last sample ${Math.round(age / 1000)} s ago: these numbers are not current.` : ''
      })
  }
  tick()
  watchTimer = window.setInterval(tick, 1000)
}

function start (): void {
  window.clearInterval(watchTimer)
  renderAccount()
  if (session?.role !== 'admin') {
    view.replaceChildren(el('p', {}, 'Sign in with an operator (admin) account to create and watch sales.'))
    return
  }
  const picker = el('div', { id: 'picker' })
  const panel = el('section', { id: 'live', 'aria-live': 'off' })
  const pick = (id: number): void => {
    history.replaceState(null, '', `/ops#${id}`)
    const refreshPicker = (): void => {
      // Not while the operator is choosing in it.
      if (picker.contains(document.activeElement)) return
      eventPicker(id, pick).then((p) => picker.replaceChildren(p)).catch(() => undefined)
    }
    refreshPicker()
    // The sales' states in the picker stay current (upcoming, active, sold out).
    window.clearInterval(pickerTimer)
    pickerTimer = window.setInterval(refreshPicker, 10_000)
    watch(panel, id)
  }
  view.replaceChildren(createForm(pick), el('section', {}, el('h2', {}, 'Live'), picker, panel))
  const fromHash = Number(location.hash.slice(1))
  if (Number.isSafeInteger(fromHash) && fromHash > 0) pick(fromHash)
  else eventPicker(undefined, pick).then((p) => picker.replaceChildren(p)).catch((err: unknown) => { panel.textContent = describe(err) })
}

start()
