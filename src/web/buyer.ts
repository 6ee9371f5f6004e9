/**
 * The buyer's page: the sales, one sale with a countdown by the server's clock and live stock, the
 * Buy button (one buy; retries and double clicks reuse one Idempotency-Key), the ticket followed
 * by long-poll (place in line, then the outcome), and the buyer's orders (pay, cancel).
 */
import { api, clockOffset, describe, duration, el, isApiError, loadSession, money, retryDelay, saveSession, signIn, whenSessionEnds } from './api'
import type { Order, Page, SaleEvent, Ticket } from './api'

let session = loadSession()
// A session that cannot be refreshed: the header shows the sign-in form again (no stale "Signed in
// as"), and the sale page's Buy waits for it.
whenSessionEnds(() => { session = undefined; renderAccount() })
let offset = 0
/** Timers of the current view, cleared when the view changes. */
let timers: number[] = []
let viewToken = 0

const view = document.getElementById('view') as HTMLElement
const account = document.getElementById('account') as HTMLElement
const serverNow = (): number => Date.now() + offset

function every (ms: number, fn: () => void): void {
  timers.push(window.setInterval(fn, ms))
}

function renderAccount (): void {
  account.replaceChildren()
  if (session === undefined) {
    const email = el('input', { type: 'email', name: 'email', placeholder: 'email', autocomplete: 'username', required: '', 'aria-label': 'Email' })
    const password = el('input', { type: 'password', name: 'password', placeholder: 'password (8+ characters)', autocomplete: 'current-password', required: '', minlength: '8', 'aria-label': 'Password' })
    const message = el('p', { class: 'message', role: 'alert' })
    const go = async (mode: 'login' | 'register'): Promise<void> => {
      message.textContent = ''
      try {
        session = await signIn(mode, email.value, password.value)
        saveSession(session)
        renderAccount()
        await route()
      } catch (err) {
        message.textContent = describe(err)
      }
    }
    const form = el('form', { class: 'signin' }, email, password,
      el('button', { type: 'submit', id: 'sign-in' }, 'Sign in'),
      el('button', { type: 'button', id: 'sign-up', class: 'secondary' }, 'Sign up'), message)
    form.addEventListener('submit', (e) => { e.preventDefault(); void go('login') })
    form.querySelector('#sign-up')?.addEventListener('click', () => { if (form.reportValidity()) void go('register') })
    account.append(form)
    return
  }
  const out = el('button', { type: 'button', class: 'secondary' }, 'Sign out')
  out.addEventListener('click', () => { session = undefined; saveSession(undefined); renderAccount(); void route() })
  account.append(el('span', { id: 'signed-in' }, `Signed in as ${session.email}`), ' ', out)
}

async function route (): Promise<void> {
  for (const t of timers) window.clearInterval(t)
  timers = []
  viewToken++
  const hash = location.hash
  const sale = /^#\/events\/(\d+)$/.exec(hash)
  try {
    if (sale !== null) await showSale(Number(sale[1]))
    else if (hash === '#/orders') await showOrders()
    else await showSales()
  } catch (err) {
    view.replaceChildren(el('p', { class: 'message', role: 'alert' }, describe(err)))
  }
  // The new view's heading takes the focus (after signing in, opening a sale, following a link),
  // so keyboard and screen-reader users land on what changed instead of the top of the page.
  focusOn(view.querySelector('h2'))
}

function focusOn (target: Element | null): void {
  if (!(target instanceof HTMLElement)) return
  target.setAttribute('tabindex', '-1')
  target.focus({ preventScroll: true })
}

async function showSales (): Promise<void> {
  const [active, upcoming] = await Promise.all([
    api<Page<SaleEvent>>('GET', '/events?status=active&sort=start_at,asc&page_size=50'),
    api<Page<SaleEvent>>('GET', '/events?status=upcoming&sort=start_at,asc&page_size=50')
  ])
  const list = (title: string, events: readonly SaleEvent[]): HTMLElement => el('section', {},
    el('h2', {}, title),
    events.length === 0
      ? el('p', {}, 'None right now.')
      : el('ul', { class: 'sales' }, ...events.map((e) => el('li', {},
        el('a', { href: `#/events/${e.id}` }, e.title), ` — ${money(e.price_cents)}, ${e.remaining} of ${e.stock} left, `,
        e.status === 'upcoming' ? `starts ${new Date(e.start_at).toLocaleString()}` : e.status.replace('_', ' ')))))
  view.replaceChildren(list('On sale now', active.items), list('Coming up', upcoming.items))
}

/** One Idempotency-Key per buyer and sale, kept across reloads, so a retry is the same buy. */
function buyKey (eventId: number): string {
  const name = `seckill.buy.${session?.email ?? ''}.${eventId}`
  let key = sessionStorage.getItem(name)
  if (key === null) {
    key = crypto.randomUUID()
    sessionStorage.setItem(name, key)
  }
  return key
}

async function showSale (id: number): Promise<void> {
  const mine = viewToken
  let event = await api<SaleEvent>('GET', `/events/${id}`)
  const countdown = el('p', { id: 'countdown', class: 'big' })
  const stock = el('p', { id: 'stock' })
  const buy = el('button', { type: 'button', id: 'buy', disabled: '' }, 'Buy')
  const ticketBox = el('section', { id: 'ticket', 'aria-live': 'polite' })
  const message = el('p', { class: 'message', role: 'alert' })
  view.replaceChildren(el('article', { class: 'sale' },
    el('h2', {}, event.title),
    el('p', {}, `Price ${money(event.price_cents)} · ${event.stock} ${event.stock === 1 ? 'unit' : 'units'} · one per buyer`),
    countdown, stock, buy, message, ticketBox))

  let buying = false
  let holding = false
  const paint = (): void => {
    const now = serverNow()
    const start = Date.parse(event.start_at)
    const end = Date.parse(event.end_at)
    if (now < start) countdown.textContent = `Starts in ${duration(start - now)}`
    else if (now < end) countdown.textContent = event.remaining > 0 ? 'On sale now' : 'Sold out'
    else countdown.textContent = 'This sale has ended'
    stock.textContent = `${event.remaining} of ${event.stock} left`
    const open = now >= start && now < end
    buy.toggleAttribute('disabled', !open || buying || holding || session === undefined || event.remaining === 0)
    buy.textContent = session === undefined ? 'Sign in to buy' : buying ? 'Buying…' : 'Buy'
  }
  paint()
  every(200, paint)
  every(1000, () => {
    api<SaleEvent>('GET', `/events/${id}`).then((e) => { event = e; paint() }).catch(() => undefined)
  })

  const follow = async (first: Ticket): Promise<void> => {
    let ticket = first
    holding = true
    const line = new LineWatch()
    let shown = false
    while (mine === viewToken) {
      const hadFocus = ticketBox.contains(document.activeElement)
      showTicket(ticketBox, ticket, line.see(ticket))
      // After Buy (or a reload) the focus goes to the ticket's state, and stays on it as it changes.
      if (!shown || hadFocus) focusOn(ticketBox.querySelector('#ticket-status'))
      shown = true
      if (ticket.status !== 'queued') break
      try {
        const asked = Date.now()
        // A short wait: the answer comes at once on an outcome, otherwise in 2 s with the place as
        // it is then, so the place and the ETA move while the line does. Affordable: the gate keeps
        // the line near the stock, so few buyers are ever in it.
        ticket = await api<Ticket>('GET', `/tickets/${ticket.ticket_id}?wait=${PLACE_EVERY_MS}`, { session })
        message.textContent = ''
        // Answered at once but still in line (this buyer's other tabs hold the waiting polls the
        // server allows each buyer): ask again in a second, not in a loop.
        const quick = 1000 - (Date.now() - asked)
        if (ticket.status === 'queued' && quick > 0) await new Promise((resolve) => setTimeout(resolve, quick))
      } catch (err) {
        message.textContent = describe(err)
        // A busy service says when to ask again (Retry-After): the page waits that long.
        await new Promise((resolve) => setTimeout(resolve, retryDelay(err, 1000)))
      }
    }
  }

  // A reload, or another tab: pick up this buyer's ticket where it is (in line, won, sold out).
  if (session !== undefined) {
    api<Ticket>('GET', `/events/${id}/ticket`, { session })
      .then(async (ticket) => { if (mine === viewToken && !buying) await follow(ticket) })
      .catch((err: unknown) => { if (!(isApiError(err) && err.status === 404)) message.textContent = describe(err) })
  }

  buy.addEventListener('click', () => {
    if (buying || session === undefined) return
    buying = true
    message.textContent = ''
    paint()
    const send = async (): Promise<void> => {
      const headers: Record<string, string> = { 'idempotency-key': buyKey(id) }
      if (event.require_token === true) {
        headers['x-buy-token'] = (await api<{ token: string }>('POST', `/events/${id}/token`, { session })).token
      }
      // A dropped answer is retried with the same key: the service hands back the same ticket. A
      // busy service (503 OVERLOADED) is asked again when it said to (Retry-After), for longer.
      for (let attempt = 0; ; attempt++) {
        try {
          return await follow(await api<Ticket>('POST', `/events/${id}/buy`, { session, headers }))
        } catch (err) {
          const busy = isApiError(err) && err.code === 'OVERLOADED'
          if (attempt >= (busy ? 10 : 3) || (isApiError(err) && err.status < 500)) throw err
          if (busy) message.textContent = describe(err)
          await new Promise((resolve) => setTimeout(resolve, retryDelay(err, 300 * (attempt + 1))))
        }
      }
    }
    send().catch((err: unknown) => { message.textContent = describe(err) }).finally(() => { buying = false; paint() })
  })
}

/** How often a buyer in line learns their place. */
const PLACE_EVERY_MS = 2000
/** With the place unchanged this long, the page says the line is paused. */
const PAUSED_AFTER_MS = 5000

interface LineState {
  /** The ETA from the pace this page has seen the line move at, else the service's. */
  readonly etaMs: number | undefined
  readonly paused: boolean
}

/** The pace of the line as this page sees it: how fast its place drops, and whether it stopped. */
class LineWatch {
  private place: number | undefined
  private movedAt = Date.now()
  private perSecond: number | undefined

  see (t: Ticket): LineState {
    const now = Date.now()
    if (t.status !== 'queued' || t.position === undefined) return { etaMs: undefined, paused: false }
    if (this.place === undefined || t.position > this.place) {
      this.place = t.position
      this.movedAt = now
    } else if (t.position < this.place) {
      const seconds = Math.max(0.001, (now - this.movedAt) / 1000)
      this.perSecond = (this.place - t.position) / seconds
      this.place = t.position
      this.movedAt = now
    }
    const paused = now - this.movedAt >= PAUSED_AFTER_MS
    const etaMs = this.perSecond !== undefined && this.perSecond > 0 ? Math.round(t.position / this.perSecond * 1000) : t.eta_ms
    return { etaMs, paused }
  }
}

function showTicket (box: HTMLElement, t: Ticket, line: LineState = { etaMs: t.eta_ms, paused: false }): void {
  if (t.status === 'queued') {
    box.replaceChildren(el('h3', { id: 'ticket-status' }, 'You are in line'),
      el('p', {}, `Place in line: ${t.position ?? '?'}`),
      el('p', { id: 'eta' }, line.paused
        ? 'The line is paused right now; your place is kept.'
        : `Expected answer in about ${duration(line.etaMs ?? 0)}`))
  } else if (t.status === 'won') {
    box.replaceChildren(el('h3', { id: 'ticket-status' }, 'You won!'), el('p', {}, 'Pay before the deadline to keep it.'))
    if (t.order_id !== undefined) void showOrder(box, t.order_id)
  } else if (t.status === 'sold_out') {
    box.replaceChildren(el('h3', { id: 'ticket-status' }, 'Sold out'), el('p', {}, 'Every unit went to buyers ahead of you in line. A unit that comes back later (an order cancelled or not paid in time) goes to a buyer still in line, so "units left" may rise again while Buy stays off for you: one buy per buyer and sale.'))
  } else {
    box.replaceChildren(el('h3', { id: 'ticket-status' }, 'Not completed'), el('p', {}, `Your buy could not be completed (${(t.reason ?? 'unknown').replace(/_/g, ' ')}).`))
  }
}

/** An order with its deadline counting down, and Pay / Cancel; the ticket's heading follows the order. */
async function showOrder (box: HTMLElement, orderId: string): Promise<void> {
  const order = await api<Order>('GET', `/orders/${orderId}`, { session })
  const heading = box.querySelector('#ticket-status')
  const line = heading?.nextElementSibling
  const follow = (o: Order): void => {
    if (heading === null || line === null || line === undefined) return
    const [title, text] = o.status === 'cancelled'
      ? ['Order cancelled', 'You cancelled this order; its unit went back on sale.']
      : o.status === 'expired'
        ? ['Order expired', 'The payment deadline passed; its unit went back on sale.']
        : o.status === 'paid' ? ['You won!', 'Paid. It is yours.'] : ['You won!', 'Pay before the deadline to keep it.']
    heading.textContent = title
    line.textContent = text
  }
  follow(order)
  box.append(orderCard(order, follow))
}

function orderCard (initial: Order, onChange: (order: Order) => void = () => undefined, header: readonly Node[] = []): HTMLElement {
  let order = initial
  const card = el('div', { class: 'order', 'data-order': order.id })
  const paint = (): void => {
    const status = orderStatusLine(order)
    const actions = el('p', {})
    const message = el('p', { class: 'message', role: 'alert' })
    if (order.status === 'pending_payment') {
      for (const [label, action] of [['Pay', 'pay'], ['Cancel', 'cancel']] as const) {
        const b = el('button', { type: 'button', class: action === 'pay' ? '' : 'secondary', 'data-action': action }, label)
        b.addEventListener('click', () => {
          b.setAttribute('disabled', '')
          api<Order>('POST', `/orders/${order.id}/${action}`, { session })
            .then((o) => { order = o; paint(); onChange(o) })
            .catch((err: unknown) => { message.textContent = describe(err); b.removeAttribute('disabled') })
        })
        actions.append(b, ' ')
      }
    }
    card.replaceChildren(...header, el('p', {}, `Price ${money(order.price_cents)}`), status, actions, message)
  }
  paint()
  every(1000, () => { if (order.status === 'pending_payment') card.querySelector('.order-status')?.replaceWith(orderStatusLine(order)) })
  return card
}

function orderStatusLine (order: Order): HTMLElement {
  const deadline = order.status === 'pending_payment' && order.expires_at !== null ? Date.parse(order.expires_at) : undefined
  return el('p', { class: 'order-status' }, `Order ${order.id}: ${order.status.replace('_', ' ')}`,
    deadline !== undefined ? ` — pay within ${duration(deadline - serverNow())}` : '')
}

async function showOrders (): Promise<void> {
  if (session === undefined) {
    view.replaceChildren(el('p', {}, 'Sign in to see your orders.'))
    return
  }
  const page = await api<Page<Order>>('GET', '/orders?sort=created_at,desc&page_size=50', { session })
  // Each order under the sale it came from (the sales' public pages, read once each).
  const sales = new Map<number, SaleEvent | undefined>()
  await Promise.all([...new Set(page.items.map((o) => o.event_id))].map(async (id) => {
    sales.set(id, await api<SaleEvent>('GET', `/events/${id}`).catch(() => undefined))
  }))
  const when = (iso: string): string => new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
  view.replaceChildren(el('h2', {}, 'My orders'),
    page.items.length === 0
      ? el('p', {}, 'No orders yet.')
      : el('div', { class: 'orders' }, ...page.items.map((o) => {
        const sale = sales.get(o.event_id)
        return orderCard(o, undefined, [
          el('h3', { class: 'order-title' }, sale === undefined ? `Sale ${o.event_id}` : sale.title),
          el('p', { class: 'order-date' }, `Ordered ${when(o.created_at)}${o.paid_at !== null ? ` · paid ${when(o.paid_at)}` : ''}`)
        ])
      })))
}

window.addEventListener('hashchange', () => { void route() })
renderAccount()
clockOffset().then((o) => { offset = o }).catch(() => undefined).finally(() => { void route() })
