/**
 * The buyer's page: the sales, one sale (sale-view.ts), the buyer's orders (pay through the
 * payment provider and back, cancel, receipts), in English or Simplified Chinese. Each view has
 * one h1, which takes the focus when the view changes.
 */
import { api, clockOffset, describe, el, whenSessionEnds } from './api'
import type { Order, Page, SaleEvent } from './api'
import { renderAccount } from './account'
import { LOCALES, count, locale, m, money, setLocale, when } from './i18n'
import type { Locale } from './i18n'
import { CATALOGUE } from './messages'
import { orderCard } from './order-card'
import type { Payment } from './order-card'
import { focusOn, newView, state } from './page'
import { showSale } from './sale-view'

const view = document.getElementById('view') as HTMLElement
const account = document.getElementById('account') as HTMLElement

// A session that cannot be refreshed: the header shows the sign-in form again (no stale "Signed in
// as"), and the sale page's Buy waits for it.
whenSessionEnds(() => { state.session = undefined; drawAccount() })

function drawAccount (): void {
  renderAccount(account, async () => { await route() })
}

/** The header's words and the language switch, in the current language. */
function drawChrome (): void {
  const w = m()
  const skip = document.getElementById('skip')
  if (skip !== null) skip.textContent = w.skip
  const brand = document.querySelector('.brand')
  if (brand !== null) brand.textContent = w.brand
  const nav = document.getElementById('nav')
  nav?.replaceChildren(el('a', { href: '#/' }, w.navSales), ' ', el('a', { href: '#/orders' }, w.navOrders))
  const select = el('select', { id: 'lang' }, ...LOCALES.map((l) => {
    const o = el('option', { value: l, lang: l }, CATALOGUE[l].languageName)
    if (l === locale()) o.setAttribute('selected', '')
    return o
  }))
  select.addEventListener('change', () => {
    setLocale(select.value as Locale)
    drawChrome()
    drawAccount()
    void route().then(() => { focusOn(document.getElementById('lang')) })
  })
  document.getElementById('lang-switch')?.replaceChildren(el('label', { for: 'lang' }, w.language), ' ', select)
}

/** Said once above the next view: what became of the payment the buyer came back from. */
let paymentNotice: string | undefined

/**
 * Draws the view the address names. `moveFocus`: the view's h1 takes the focus (after a link, a
 * sign-in, a language change); on the first load the focus stays at the top of the page, so Tab
 * goes through the header (skip link, sign-in) before the sales.
 */
async function route (moveFocus = true): Promise<void> {
  const mine = newView()
  const returned = new URLSearchParams(location.search).get('payment')
  if (returned !== null && /^\d{1,16}$/.test(returned) && state.session !== undefined) {
    await paymentReturned(returned, mine)
    return
  }
  const hash = location.hash
  const sale = /^#\/events\/(\d+)$/.exec(hash)
  document.title = m().brand
  try {
    if (sale !== null) await showSale(view, Number(sale[1]), mine)
    else if (hash === '#/orders') await showOrders()
    else await showSales()
  } catch (err) {
    view.replaceChildren(el('h1', {}, m().brand), el('p', { class: 'message', role: 'alert' }, describe(err)))
  }
  if (paymentNotice !== undefined) {
    const notice = el('p', { id: 'payment-result', class: 'notice', role: 'status' }, paymentNotice)
    view.prepend(notice)
    paymentNotice = undefined
    // Back from paying: the focus goes to what happened, not to the top of the page.
    focusOn(notice)
    return
  }
  // The new view's heading takes the focus (after signing in, opening a sale, following a link),
  // so keyboard and screen-reader users land on what changed instead of the top of the page.
  if (moveFocus) focusOn(view.querySelector('h1'))
}

async function showSales (): Promise<void> {
  const w = m()
  const [active, upcoming] = await Promise.all([
    api<Page<SaleEvent>>('GET', '/events?status=active&sort=start_at,asc&page_size=50'),
    api<Page<SaleEvent>>('GET', '/events?status=upcoming&sort=start_at,asc&page_size=50')
  ])
  const list = (title: string, events: readonly SaleEvent[]): HTMLElement => el('section', {},
    el('h2', {}, title),
    events.length === 0
      ? el('p', {}, w.noneNow)
      : el('ul', { class: 'sales' }, ...events.map((e) => el('li', {},
        el('a', { href: `#/events/${e.id}` }, e.title), ` — ${money(e.price_cents)}, ${w.listLeft(count(e.remaining), count(e.stock))}, `,
        e.status === 'upcoming' ? w.listStarts(when(e.start_at)) : w.statusWord(e.status)))))
  view.replaceChildren(el('h1', {}, w.salesTitle), list(w.onSaleNow, active.items), list(w.comingUp, upcoming.items))
}

/**
 * Back from the provider (`/?order=…&payment=…`): wait for its answer (the webhook, or the
 * reconciler's question), then show the sale the order came from, with what happened said.
 */
async function paymentReturned (paymentId: string, mine: number): Promise<void> {
  const w = m()
  view.replaceChildren(el('h1', {}, w.paymentTitle), el('p', { id: 'payment-result', role: 'status' }, w.paymentWaiting))
  focusOn(view.querySelector('h1'))
  let payment: Payment | undefined
  const until = Date.now() + 30_000
  while (mine === state.viewToken && Date.now() < until) {
    payment = await api<Payment>('GET', `/payments/${paymentId}`, { session: state.session }).catch(() => undefined)
    if (payment !== undefined && payment.status !== 'pending') break
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  if (mine !== state.viewToken) return
  const order = payment === undefined ? undefined : await api<Order>('GET', `/orders/${payment.order_id}`, { session: state.session }).catch(() => undefined)
  paymentNotice = payment === undefined
    ? w.paymentUnreadable
    : payment.late !== null
      ? w.paymentLate(payment.late, payment.status === 'refunded')
      : payment.status === 'captured' ? w.paymentReceived
        : payment.status === 'failed' ? w.paymentDeclined
          : payment.status === 'pending' ? w.paymentPending
            : w.paymentRefunded
  history.replaceState(null, '', order === undefined ? '/#/orders' : `/#/events/${order.event_id}`)
  await route()
}

async function showOrders (): Promise<void> {
  const w = m()
  if (state.session === undefined) {
    view.replaceChildren(el('h1', {}, w.myOrders), el('p', {}, w.signInForOrders))
    return
  }
  const page = await api<Page<Order>>('GET', '/orders?sort=created_at,desc&page_size=50', { session: state.session })
  // Each order under the sale it came from (the sales' public pages, read once each).
  const sales = new Map<number, SaleEvent | undefined>()
  await Promise.all([...new Set(page.items.map((o) => o.event_id))].map(async (id) => {
    sales.set(id, await api<SaleEvent>('GET', `/events/${id}`).catch(() => undefined))
  }))
  view.replaceChildren(el('h1', {}, w.myOrders),
    page.items.length === 0
      ? el('p', {}, w.noOrders)
      : el('div', { class: 'orders' }, ...page.items.map((o) => {
        const sale = sales.get(o.event_id)
        const title = sale === undefined ? w.saleN(o.event_id) : sale.title
        return orderCard(o, {
          item: title,
          header: [
            el('h2', { class: 'order-title' }, title),
            el('p', { class: 'order-date' }, `${w.ordered(when(o.created_at))}${o.paid_at !== null ? w.paidAt(when(o.paid_at)) : ''}`)
          ]
        })
      })))
}

window.addEventListener('hashchange', () => { void route() })
drawChrome()
drawAccount()
clockOffset().then((o) => { state.offset = o }).catch(() => undefined).finally(() => { void route(false) })
