/**
 * One sale: its window in absolute times (with the time zone) and a countdown on the server's
 * clock, what is left and, when Buy is off, why (not started, sold out and what the rule is,
 * already bought, cancelled, expired); Buy (one buy: retries and double clicks reuse one
 * Idempotency-Key); then the ticket followed by long-poll: a progress bar, the buyers ahead, a
 * wait that does not jump, when it was last heard, that reloading is safe; then the order with its
 * reservation timer. The organiser's message to everyone in line, when there is one, is shown
 * at the top with its time, as text, and follows the sale's read (once a second) without a reload.
 */
import { api, describe, el, isApiError, isUnreachable, retryDelay } from './api'
import type { Order, SaleEvent, Ticket } from './api'
import { clock, count, duration, m, money, roughDuration, when } from './i18n'
import { LineWatch } from './line-watch'
import type { LineState } from './line-watch'
import { orderCard, orderPhase, phaseWords } from './order-card'
import type { OrderPhase } from './order-card'
import { announce, every, focusOn, serverNow, state } from './page'
import { ProofOfWork } from './proof-of-work'

/** How often a buyer in line learns their place. */
const PLACE_EVERY_MS = 2000

/** One Idempotency-Key per buyer and sale, kept across reloads, so a retry is the same buy. */
function buyKey (eventId: number): string {
  const name = `seckill.buy.${state.session?.email ?? ''}.${eventId}`
  let key = sessionStorage.getItem(name)
  if (key === null) {
    key = crypto.randomUUID()
    sessionStorage.setItem(name, key)
  }
  return key
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

export async function showSale (view: HTMLElement, id: number, mine: number): Promise<void> {
  const w = m()
  let event = await api<SaleEvent>('GET', `/events/${id}`)
  const countdown = el('p', { id: 'countdown', class: 'big' })
  const stock = el('p', { id: 'stock' })
  const buy = el('button', { type: 'button', id: 'buy', disabled: '', 'aria-describedby': 'buy-why' }, w.buy)
  const why = el('p', { id: 'buy-why', class: 'hint' })
  const ticketBox = el('section', { id: 'ticket', 'aria-labelledby': 'ticket-status' })
  const message = el('p', { class: 'message', role: 'alert' })
  // A sale with proof of work: the device's check against bots, its progress and what it means.
  const powBar = el('progress', { id: 'pow-progress', max: '1', value: '0', 'aria-label': w.powProgress })
  const powText = el('p', { id: 'pow-status', class: 'hint' })
  const powBox = el('div', { id: 'pow', hidden: '' }, powBar, powText)
  // A live region of its own: a new message is read out once, not with every poll.
  const note = el('div', { id: 'line-message', class: 'line-message', role: 'status' })
  view.replaceChildren(el('article', { class: 'sale' },
    el('h1', {}, event.title), note,
    // The organiser's text, as text.
    ...(event.description != null ? [el('p', { id: 'description' }, event.description)] : []),
    el('p', { id: 'price' }, w.priceLine(money(event.price_cents), event.stock, count(event.stock))),
    el('p', { id: 'window' }, w.window(when(event.start_at), when(event.end_at))),
    countdown, stock, buy, why, powBox, message, ticketBox))

  let buying = false
  /** Until the buyer's own ticket has been looked up, Buy stays off (a reload must not offer it beside "You are in line"). */
  let checking = state.session !== undefined
  /** The buyer's ticket and, once won, the order's phase: why Buy stays off. */
  let ticket: Ticket | undefined
  let phase: OrderPhase | undefined
  const paused = (): boolean => (event as SaleEvent & { paused?: boolean }).paused === true
  /** When buys are taken: a randomized start takes them from its lead window on. */
  const opensAt = (): number => Date.parse(event.start_at) - (event.entry === 'random_at_start' ? event.lead_ms ?? 0 : 0)
  const pow = event.proof_of_work
    ? new ProofOfWork(id, event.pow_max_number ?? 1, () => state.session, () => {
      paint()
      if (pow?.state.kind === 'ready') announce(w.powReady)
    }, () => mine === state.viewToken, serverNow)
    : undefined
  /** Whether Buy waits for the device's check against bots (a sale with proof of work, a buyer without a ticket). */
  const powPending = (now: number): boolean => pow !== undefined && state.session !== undefined && !checking && ticket === undefined &&
    now < Date.parse(event.end_at) && pow.proof(now) === undefined
  const paintPow = (now: number): void => {
    // Not while the sale is sold out (a waitlist sale still takes buyers): no work for nothing.
    const shown = pow !== undefined && state.session !== undefined && !checking && ticket === undefined && now < Date.parse(event.end_at) &&
      (event.status !== 'sold_out' || event.waitlist)
    powBox.toggleAttribute('hidden', !shown)
    if (!shown || pow === undefined) return
    pow.ensure(now)
    const s = pow.state
    const ready = pow.proof(now) !== undefined
    const text = ready ? w.powReady : s.kind === 'waiting' ? w.powWaiting : s.kind === 'failed' ? w.powFailed : w.powWorking
    if (powText.textContent !== text) powText.textContent = text
    const value = ready ? '1' : s.kind === 'working' ? s.fraction.toFixed(2) : '0'
    if (powBar.getAttribute('value') !== value) powBar.setAttribute('value', value)
  }

  const reasonOff = (open: boolean, now: number): string => {
    if (state.session === undefined) return w.whySignIn
    if (checking) return w.whyChecking
    if (ticket !== undefined) return phase === 'cancelled' ? w.whyCancelled : phase === 'expired' ? w.whyExpired : ticket.waitlisted === true ? w.whyWaitlisted : w.whyHolding
    if (now < opensAt()) return w.whyNotStarted
    if (open && event.mode === 'draw' && now >= Date.parse(event.start_at)) return w.whyDrawClosed
    if (!open) return w.whyEnded
    if (powPending(now)) return w.whyPow
    if (event.status === 'sold_out') return ''
    return ''
  }
  const paint = (): void => {
    const now = serverNow()
    const start = Date.parse(event.start_at)
    const end = Date.parse(event.end_at)
    // In a randomized start's lead window the buyer may get in before the start.
    const inLead = now < start && now >= opensAt()
    const open = (now >= start || inLead) && now < end
    const soldOut = open && event.status === 'sold_out'
    // A waitlist sale that is sold out still takes buyers: onto its waitlist, in arrival order.
    // Not a draw: its waitlist holds the runners-up, and nobody enters after the close.
    const isDraw = event.mode === 'draw'
    const waitlistOpen = soldOut && event.waitlist === true && !isDraw
    const drawClosed = isDraw && now >= start
    if (now < start) countdown.textContent = w.startsIn(duration(start - now))
    else if (!open) countdown.textContent = w.ended
    else if (soldOut || ticket?.status === 'sold_out') countdown.textContent = w.soldOut
    else countdown.textContent = paused() ? w.paused : w.onSale
    // Sold out beside "N left" says what the rule is: the units left are promised to the line.
    stock.textContent = isDraw && now < start
      ? w.drawSaleRule(roughDuration(event.lead_ms ?? 0), clock(start), count(event.stock))
      : event.entry === 'random_at_start' && now < start
        ? w.drawRule(roughDuration(event.lead_ms ?? 0))
        : waitlistOpen
          ? w.waitlistRule
          : soldOut
            ? w.soldOutRule(event.remaining, count(event.remaining))
            : open && ticket?.status === 'sold_out' && event.remaining > 0 ? w.promised(count(event.remaining), count(event.stock))
              : open && paused() ? `${w.left(count(event.remaining), count(event.stock))} ${w.pausedRule}` : w.left(count(event.remaining), count(event.stock))
    paintPow(now)
    const off = !open || buying || checking || ticket !== undefined || state.session === undefined || ((soldOut || event.remaining === 0) && !waitlistOpen) || powPending(now) || drawClosed
    buy.toggleAttribute('disabled', off)
    buy.textContent = state.session === undefined ? w.signInToBuy : buying ? w.buying : waitlistOpen ? w.joinWaitlist : inLead ? (isDraw ? w.enterDraw : w.enter) : w.buy
    const reason = off && !buying ? reasonOff(open, now) : ''
    if (why.textContent !== reason) why.textContent = reason
  }
  /** The message as last shown (its time and text), so an unchanged one is not rewritten. */
  let shownNote = ''
  const paintNote = (): void => {
    const text = event.line_message
    const at = event.line_message_at
    // Absent from an ingress older than the message (a rolling deploy): no message.
    const key = text == null || at == null ? '' : `${at}\n${text}`
    if (key === shownNote) return
    shownNote = key
    // textContent only: the message is whatever the organiser typed, never markup.
    if (text == null || at == null) note.replaceChildren()
    else note.replaceChildren(el('p', { id: 'line-message-from', class: 'hint' }, w.lineMessageFrom(clock(at))), el('p', { id: 'line-message-text' }, text))
  }
  paintNote()
  paint()
  every(200, paint)
  every(1000, tickUpdated)
  every(1000, () => {
    api<SaleEvent>('GET', `/events/${id}`).then((e) => { event = e; paintNote(); paint() }).catch(() => undefined)
  })

  const line = new LineWatch()
  let lastStatus = ''
  /** The place the draw gave this buyer at the start (their ticket was an entry before). */
  let drawn: number | undefined
  let entered = false
  const follow = async (first: Ticket): Promise<void> => {
    ticket = first
    paint()
    while (mine === state.viewToken) {
      // The focus follows the ticket unless the buyer is somewhere else on purpose (a notice they
      // were sent to, a field): from Buy, the heading, the ticket itself or nowhere.
      const at = document.activeElement
      const hadFocus = at === null || at === document.body || at.id === 'view' || at === buy || at.tagName === 'H1' || ticketBox.contains(at)
      if (ticket.awaiting_draw === true) entered = true
      // The placed ticket's queue position is the drawn place (its id ends with it).
      else if (entered && drawn === undefined && !ticket.ticket_id.includes('-x')) drawn = Number(ticket.ticket_id.split('-')[2])
      const lineState = line.see(ticket)
      showTicket(ticketBox, ticket, lineState, paused(), event, drawn, () => { void leave() }, (o, p) => {
        phase = p
        paint()
        const [phaseTitle, text] = phaseWords(p)
        const title = p === 'pay' && event.mode === 'draw' ? w.drawWon : phaseTitle
        const heading = ticketBox.querySelector('#ticket-status')
        const under = ticketBox.querySelector('#ticket-text')
        if (heading !== null) heading.textContent = title
        if (under !== null) under.textContent = text
        announce(`${title} ${text}`)
        document.title = p === 'pay' ? `${w.titleWon} · ${event.title}` : `${title} · ${event.title}`
        if (p !== 'pay' && (ticketBox.contains(document.activeElement) || document.activeElement === document.body)) focusOn(heading)
        void o
      })
      // Said once per change of state (and of place when it moves), never on every poll.
      const said = ticket.awaiting_draw === true ? 'entered' : ticket.status
      if (said !== lastStatus) {
        lastStatus = said
        if (said === 'entered') announce(enteredTitle(event))
        else if (ticket.status === 'queued') announce(`${w.inLine}. ${w.placeInLine(count(ticket.position ?? 0))}`)
        else if (ticket.status !== 'won') announce(ticketBox.textContent ?? '')
      }
      if (ticket.status === 'queued') document.title = ticket.awaiting_draw === true ? `${enteredTitle(event)} · ${event.title}` : `${w.titleInLine(count(ticket.position ?? 0))} · ${event.title}`
      // After Buy (or a reload) the focus goes to the ticket's state, and stays on it as it changes.
      if (hadFocus) focusOn(ticketBox.querySelector('#ticket-status'))
      // In line, or on the waitlist (a unit that comes back makes a new ticket, in line): followed.
      if (ticket.status !== 'queued' && ticket.waitlisted !== true) break
      try {
        const asked = Date.now()
        // A short wait: the answer comes at once on an outcome, otherwise in 2 s with the place as
        // it is then, so the place and the ETA move while the line does.
        ticket = await api<Ticket>('GET', `/tickets/${ticket.ticket_id}?wait=${PLACE_EVERY_MS}`, { session: state.session })
        message.textContent = ''
        // Answered at once but still in line (this buyer's other tabs hold the waiting polls the
        // server allows each buyer): ask again in a second, not in a loop.
        const quick = 1000 - (Date.now() - asked)
        if (ticket.status === 'queued' && quick > 0) await sleep(quick)
      } catch (err) {
        // No answer at all: the connection banner says so and the page retries; no second, red
        // message under it. A refusal with words (a busy service) is said.
        message.textContent = isUnreachable(err) ? '' : describe(err)
        await sleep(retryDelay(err, 1000))
      }
    }
    if (ticket.status === 'won') notifyWon(event.title)
  }

  /** Leaves the waitlist for good (asked first); the ticket then reads plain sold out. */
  const leave = async (): Promise<void> => {
    if (!window.confirm(w.leaveWaitlistConfirm)) return
    try {
      await api<null>('DELETE', `/events/${id}/waitlist`, { session: state.session })
      ticket = await api<Ticket>('GET', `/events/${id}/ticket`, { session: state.session })
      lastStatus = ''
      await follow(ticket)
    } catch (err) {
      message.textContent = describe(err)
    }
  }

  // A reload, or another tab: pick up this buyer's ticket where it is (in line, won, sold out).
  if (state.session !== undefined) {
    api<Ticket>('GET', `/events/${id}/ticket`, { session: state.session })
      .then(async (t) => {
        checking = false
        if (mine === state.viewToken && !buying) await follow(t)
      })
      .catch((err: unknown) => {
        checking = false
        paint()
        if (!(isApiError(err) && err.status === 404)) message.textContent = describe(err)
      })
  }

  buy.addEventListener('click', () => {
    if (buying || state.session === undefined || buy.hasAttribute('disabled')) return
    buying = true
    message.textContent = ''
    paint()
    const send = async (): Promise<void> => {
      const headers: Record<string, string> = { 'idempotency-key': buyKey(id) }
      if (event.require_token === true) {
        headers['x-buy-token'] = (await api<{ token: string }>('POST', `/events/${id}/token`, { session: state.session })).token
      }
      if (pow !== undefined) headers['x-proof-of-work'] = pow.proof(serverNow()) ?? await pow.fresh()
      let powRedone = false
      // A dropped answer is retried with the same key: the service hands back the same ticket. A
      // busy service (503 OVERLOADED) is asked again when it said to (Retry-After), for longer.
      for (let attempt = 0; ; attempt++) {
        try {
          const first = await api<Ticket>('POST', `/events/${id}/buy`, { session: state.session, headers })
          buying = false
          // follow() takes the ticket before its first wait, so the spent proof is not solved again.
          const following = follow(first)
          pow?.spent()
          return await following
        } catch (err) {
          // The proof expired, or was spent or refused: solved again, and the buy sent once more.
          if (pow !== undefined && !powRedone && isApiError(err) && err.code.startsWith('POW_')) {
            powRedone = true
            message.textContent = w.powRedo
            headers['x-proof-of-work'] = await pow.fresh()
            message.textContent = ''
            continue
          }
          const busy = isApiError(err) && err.code === 'OVERLOADED'
          if (attempt >= (busy ? 10 : 3) || (isApiError(err) && err.status < 500)) throw err
          if (busy) message.textContent = describe(err)
          await sleep(retryDelay(err, 300 * (attempt + 1)))
        }
      }
    }
    send().catch((err: unknown) => { message.textContent = describe(err) }).finally(() => { buying = false; paint() })
  })
}

/** "You are in": a draw says when it is drawn; a randomized start, that the place is drawn at the start. */
function enteredTitle (event: SaleEvent): string {
  return event.mode === 'draw' ? m().drawEnteredTitle(clock(event.start_at)) : m().enteredTitle
}

function showTicket (box: HTMLElement, t: Ticket, line: LineState, onHold: boolean, event: SaleEvent, drawn: number | undefined, onLeave: () => void, onOrder: (o: Order, p: OrderPhase) => void): void {
  const w = m()
  const isDraw = event.mode === 'draw'
  const heading = (text: string): HTMLElement => el('h2', { id: 'ticket-status' }, text)
  const drawnPlace = drawn !== undefined ? [el('p', { id: 'drawn-place' }, isDraw ? w.drawRank(count(drawn)) : w.drawnPlace(count(drawn)))] : []
  if (t.status === 'queued' && t.awaiting_draw === true) {
    box.replaceChildren(heading(enteredTitle(event)), el('p', { id: 'ticket-text' }, isDraw ? w.drawEnteredText : w.enteredText),
      el('p', { id: 'entry-id', class: 'hint' }, w.entryId(t.entry_id ?? '')),
      el('p', { id: 'reload-safe', class: 'hint' }, w.reloadSafe), notifyOffer())
    return
  }
  if (t.status === 'queued') {
    const place = t.position ?? 1
    const ahead = Math.max(0, place - 1)
    const done = Math.max(0, line.first - place)
    const progress = el('progress', { id: 'line-progress', max: String(Math.max(1, line.first)), value: String(done), 'aria-label': w.progress })
    const eta = onHold ? w.saleOnHold
      : line.paused ? w.linePaused
        : line.etaMs === undefined ? w.etaWorking : w.eta(roughDuration(line.etaMs))
    const updated = el('p', { id: 'updated', class: 'hint', 'data-heard': String(line.heardAt) }, w.updated(duration(0)))
    box.replaceChildren(heading(w.inLine), ...drawnPlace, progress,
      el('p', { id: 'ahead' }, w.ahead(ahead, count(ahead))),
      el('p', { id: 'place' }, w.placeInLine(count(place))),
      el('p', { id: 'eta' }, eta), updated,
      el('p', { id: 'reload-safe', class: 'hint' }, w.reloadSafe), notifyOffer())
    return
  }
  if (t.status === 'won') {
    box.replaceChildren(heading(isDraw ? w.drawWon : w.won), ...drawnPlace, el('p', { id: 'ticket-text' }, w.payToKeep))
    if (t.order_id !== undefined) {
      api<Order>('GET', `/orders/${t.order_id}`, { session: state.session }).then((order) => {
        const card = orderCard(order, { onChange: onOrder, item: event.title })
        box.append(card)
        onOrder(order, orderPhase(order))
      }).catch((err: unknown) => { box.append(el('p', { class: 'message', role: 'alert' }, describe(err))) })
    }
    return
  }
  if (t.status === 'sold_out' && t.waitlisted === true) {
    const place = t.waitlist_place ?? 1
    const leave = el('button', { type: 'button', class: 'secondary', id: 'leave-waitlist' }, w.leaveWaitlist)
    leave.addEventListener('click', onLeave)
    box.replaceChildren(heading(isDraw ? w.runnerUpTitle : w.waitlistedTitle), ...drawnPlace, el('p', { id: 'ahead' }, isDraw ? w.runnerUpPlace(count(place), place) : w.waitlistPlace(count(place), place)),
      el('p', { id: 'ticket-text' }, isDraw ? w.runnerUpText : w.waitlistedText), el('p', { id: 'reload-safe', class: 'hint' }, w.reloadSafe), el('p', { class: 'actions' }, leave), notifyOffer())
    return
  }
  if (t.status === 'sold_out' && isDraw) {
    box.replaceChildren(heading(w.notDrawnTitle), ...drawnPlace, el('p', { id: 'ticket-text' }, w.notDrawnText))
    return
  }
  if (t.status === 'sold_out') {
    // Turned away while units show as left: the line holds a buyer for each of them; said so.
    const lineFull = event.status === 'active' && event.remaining > 0
    box.replaceChildren(heading(w.soldOutTitle), ...drawnPlace, el('p', { id: 'ticket-text' }, lineFull ? w.soldOutLineFull(count(event.remaining)) : w.soldOutText))
    return
  }
  box.replaceChildren(heading(w.notCompleted), el('p', { id: 'ticket-text' }, w.failed((t.reason ?? 'unknown').replace(/_/g, ' '))))
}

/** "Updated N s ago" counts on between polls. */
export function tickUpdated (): void {
  const p = document.getElementById('updated')
  if (p === null) return
  const heard = Number(p.dataset.heard)
  p.textContent = m().updated(duration(Date.now() - heard))
}

/** A button asking for notifications while the buyer waits, shown only while the browser has not been asked. */
function notifyOffer (): Node {
  if (typeof Notification === 'undefined' || Notification.permission !== 'default') return document.createTextNode('')
  const b = el('button', { type: 'button', class: 'secondary', id: 'notify' }, m().notify)
  b.addEventListener('click', () => { void Notification.requestPermission().then(() => b.remove()) })
  return b
}

function notifyWon (title: string): void {
  if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return
  try { new Notification(m().notifyWon(title)) } catch { /* some browsers allow notifications only from a service worker */ }
}
