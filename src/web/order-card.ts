/**
 * An order as the buyer sees it, on the sale page and in My orders: while it waits for payment, a
 * reservation timer counting down on the server's clock, with Pay and Cancel; once the deadline
 * has passed, a clear expired state at once (whatever the service has recorded yet) and no
 * buttons; Cancel asks first and says what it costs; a paid order carries its receipt.
 */
import { api, describe, el, isApiError } from './api'
import type { Order } from './api'
import { clock, duration, m, money, when } from './i18n'
import { every, focusOn, serverNow, state } from './page'

/** A payment as the API shows it (GET /api/v1/payments/:id). */
export interface Payment {
  id: string
  order_id: string
  status: 'pending' | 'failed' | 'captured' | 'refunding' | 'refunded'
  late: string | null
  redirect_url: string | null
}

/** Where an order stands for its buyer now: `lapsing` is a deadline passed that the service has not closed yet. */
export type OrderPhase = 'pay' | 'lapsing' | 'paid' | 'cancelled' | 'expired' | 'refunded'

export function orderPhase (o: Order, now = serverNow()): OrderPhase {
  if (o.status === 'pending_payment') return o.expires_at !== null && Date.parse(o.expires_at) <= now ? 'lapsing' : 'pay'
  return o.status
}

/** The heading and the sentence under it for an order's phase (the sale page's ticket heading follows them). */
export function phaseWords (p: OrderPhase): [string, string] {
  const w = m()
  switch (p) {
    case 'pay': return [w.won, w.payToKeep]
    case 'lapsing': return [w.expiringTitle, w.expiringText]
    case 'paid': return [w.paidTitle, w.paidText]
    case 'cancelled': return [w.cancelledTitle, w.cancelledText]
    case 'expired': return [w.expiredTitle, w.expiredText]
    case 'refunded': return [w.refundedTitle, w.refundedText]
  }
}

/** Asks before cancelling, in a modal dialog; resolves true when the buyer confirms. */
function confirmCancel (): Promise<boolean> {
  const w = m()
  const keep = el('button', { type: 'button', id: 'keep-order', autofocus: '' }, w.keepOrder)
  const yes = el('button', { type: 'button', class: 'danger', id: 'confirm-cancel' }, w.yesCancel)
  const dialog = el('dialog', { id: 'cancel-dialog', 'aria-labelledby': 'cancel-title', 'aria-describedby': 'cancel-text' },
    el('h2', { id: 'cancel-title' }, w.confirmCancelTitle), el('p', { id: 'cancel-text' }, w.confirmCancelText), el('p', { class: 'actions' }, keep, ' ', yes))
  document.body.append(dialog)
  return new Promise((resolve) => {
    let answer = false
    keep.addEventListener('click', () => dialog.close())
    yes.addEventListener('click', () => { answer = true; dialog.close() })
    dialog.addEventListener('close', () => { dialog.remove(); resolve(answer) })
    dialog.showModal()
    keep.focus()
  })
}

export interface CardOptions {
  /** Told whenever the order's phase changes (the sale page's heading follows it). */
  readonly onChange?: (order: Order, phase: OrderPhase) => void
  /** Shown above the card's lines (My orders: the sale's title and dates). */
  readonly header?: readonly Node[]
  /** The sale's title, for the receipt. */
  readonly item?: string
}

export function orderCard (initial: Order, opts: CardOptions = {}): HTMLElement {
  let order = initial
  let phase = orderPhase(order)
  const card = el('div', { class: 'order', 'data-order': order.id })
  const message = el('p', { class: 'message', role: 'alert' })
  const reread = async (): Promise<void> => {
    order = await api<Order>('GET', `/orders/${order.id}`, { session: state.session })
  }
  const paint = (): void => {
    const w = m()
    phase = orderPhase(order)
    const parts: Node[] = [...(opts.header ?? []), el('p', {}, w.price(money(order.price_cents))),
      el('p', { class: 'order-status', 'data-phase': phase }, w.orderLine(order.id, w.orderStatus(order.status)))]
    if (phase === 'pay' && order.expires_at !== null) {
      parts.push(el('p', { class: 'timer big', id: `timer-${order.id}`, role: 'timer' }),
        el('p', { class: 'reserved' }, w.reservedUntil(clock(order.expires_at))))
    }
    if (phase === 'lapsing' || phase === 'expired') parts.push(el('p', { class: 'lapsed' }, phaseWords(phase)[1]))
    if (phase === 'pay') {
      const pay = el('button', { type: 'button', 'data-action': 'pay' }, w.pay)
      const cancel = el('button', { type: 'button', class: 'secondary', 'data-action': 'cancel' }, w.cancel)
      pay.addEventListener('click', () => {
        pay.setAttribute('disabled', '')
        message.textContent = ''
        // To the payment provider (one payment per order, however often asked), and back.
        api<Payment>('POST', `/orders/${order.id}/payments`, { session: state.session })
          .then((p) => { if (p.redirect_url !== null) location.assign(p.redirect_url) })
          .catch(async (err: unknown) => {
            // Refused because the order is no longer payable (the deadline passed, or another tab
            // cancelled): the card shows the order as it is, not the raw refusal.
            if (isApiError(err) && err.code === 'ORDER_NOT_PAYABLE') { await reread().catch(() => undefined); repaint(); return }
            message.textContent = describe(err)
            pay.removeAttribute('disabled')
            focusOn(pay)
          })
      })
      cancel.addEventListener('click', () => {
        void confirmCancel().then((yes) => {
          if (!yes) { focusOn(cancel); return }
          cancel.setAttribute('disabled', '')
          api<Order>('POST', `/orders/${order.id}/cancel`, { session: state.session })
            .then((o) => { order = o; repaint() })
            .catch(async (err: unknown) => {
              if (isApiError(err) && err.code === 'ORDER_NOT_CANCELLABLE') { await reread().catch(() => undefined); repaint(); return }
              message.textContent = describe(err)
              cancel.removeAttribute('disabled')
            })
        })
      })
      parts.push(el('p', { class: 'actions' }, pay, ' ', cancel))
    }
    if (order.status === 'paid' || order.status === 'refunded') parts.push(receipt(order, opts.item))
    parts.push(message)
    card.replaceChildren(...parts)
    card.dataset.phase = phase
    tickTimer()
  }
  const repaint = (): void => {
    const before = card.dataset.phase
    paint()
    if (before !== phase) opts.onChange?.(order, phase)
  }
  const tickTimer = (): void => {
    const timer = card.querySelector('.timer')
    if (timer === null || order.expires_at === null) return
    timer.textContent = m().payWithin(duration(Date.parse(order.expires_at) - serverNow()))
  }
  let asking = false
  paint()
  every(250, () => {
    if (orderPhase(order) !== phase) repaint()
    else tickTimer()
    // Past the deadline: the service closes the order within a second (judged on MySQL's clock);
    // the card already says so, and reads the order until it shows the outcome.
    if (phase === 'lapsing' && !asking) {
      asking = true
      reread().then(() => { if (order.status !== 'pending_payment') repaint() }).catch(() => undefined)
        .finally(() => { window.setTimeout(() => { asking = false }, 1000) })
    }
  })
  return card
}

function receipt (o: Order, item: string | undefined): HTMLElement {
  const w = m()
  const row = (k: string, v: string): HTMLElement[] => [el('dt', {}, k), el('dd', {}, v)]
  return el('section', { class: 'receipt', 'aria-labelledby': `receipt-${o.id}` },
    el('h3', { id: `receipt-${o.id}` }, w.receipt),
    el('dl', {},
      ...row(w.receiptOrder, o.id),
      ...(item !== undefined ? row(w.receiptItem, item) : []),
      ...row(w.receiptAmount, money(o.price_cents)),
      ...(o.paid_at !== null ? row(w.receiptPaidAt, when(o.paid_at)) : [])))
}
