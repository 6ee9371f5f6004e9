/**
 * The operator's changes to the watched sale: its title, description, price and window before it
 * starts, with the times entered in the operator's own time zone and sent as absolute times (the
 * service judges the start on MySQL's clock and refuses a change once it is too late, which the
 * form says in words); and the message to everyone in line, which every buyer's page shows as text.
 *
 * Only the fields the operator changed are sent: a second operator tab that changed another field
 * meanwhile keeps its change. One request per submission however often the button is pressed.
 */
import { api, describe, el, isApiError } from './api'
import type { SaleEvent, Session } from './api'
import { clock, count, m, when } from './i18n'

/** The longest message, in characters after trimming (the service counts the same way). */
const MESSAGE_MAX = 280

const pad = (n: number): string => String(n).padStart(2, '0')

/** A moment as a datetime-local value in this device's time zone, to the second. */
function localInput (iso: string): string {
  const d = new Date(iso)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
}

/** A datetime-local value (this device's time zone) as ms since the epoch; NaN when incomplete. */
function fromLocalInput (value: string): number {
  // A date and time without an offset is read in the local time zone (ECMA-262 Date.parse).
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value) ? Date.parse(value) : NaN
}

const seconds = (ms: number): number => Math.floor(ms / 1000)

function field (id: string, label: string, input: HTMLElement): HTMLElement {
  input.id = id
  return el('div', { class: 'field' }, el('label', { for: id }, label), input)
}

/** The edit form of a sale; `update` keeps it in step with the sale (disabled once it has started). */
export function editForm (session: Session, id: number, changed: () => void): { element: HTMLElement, update: (e: SaleEvent) => void } {
  const w = m()
  const title = el('input', { name: 'title', required: '', maxlength: '200' })
  const description = el('textarea', { name: 'description', rows: '2', maxlength: '2000' })
  const price = el('input', { name: 'price', type: 'number', min: '0', step: '0.01', required: '' })
  const start = el('input', { name: 'start', type: 'datetime-local', step: '1', required: '' })
  const end = el('input', { name: 'end', type: 'datetime-local', step: '1', required: '' })
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone
  const save = el('button', { type: 'submit', id: 'edit-save' }, w.opsEditSave)
  const started = el('p', { class: 'hint', id: 'edit-started' })
  const said = el('p', { class: 'notice', role: 'status', id: 'edit-said' })
  const message = el('p', { class: 'message', role: 'alert', id: 'edit-message' })
  const form = el('form', { class: 'edit', id: 'edit-sale', 'aria-labelledby': 'edit-title-heading', 'aria-describedby': 'edit-zone' },
    el('p', { class: 'hint', id: 'edit-zone' }, w.opsEditZone(zone)),
    field('edit-title', w.opsTitle, title), field('edit-description', w.opsEditDescription, description), field('edit-price', w.opsPrice, price),
    field('edit-start', w.opsEditStart, start), field('edit-end', w.opsEditEnd, end),
    el('p', { class: 'actions' }, save), started, said, message)
  // Folded unless the sale has not started when first shown: a running sale's page stays short.
  const element = el('details', { id: 'edit', class: 'panel' }, el('summary', {}, el('h2', { id: 'edit-title-heading' }, w.opsEdit)), form)
  const inputs = [title, description, price, start, end]
  /** The sale as the form was filled from it: what "changed" is judged against. */
  let base: SaleEvent | undefined
  let dirty = false
  let busy = false
  /** The sale has started (as last read): nothing may be changed. */
  let over = false
  for (const input of inputs) input.addEventListener('input', () => { dirty = true })

  const fill = (e: SaleEvent): void => {
    base = e
    dirty = false
    title.value = e.title
    description.value = e.description ?? ''
    price.value = (e.price_cents / 100).toFixed(2)
    start.value = localInput(e.start_at)
    end.value = localInput(e.end_at)
  }
  const update = (e: SaleEvent): void => {
    // What the operator is typing is never overwritten; an untouched form follows the sale.
    if (base === undefined) element.toggleAttribute('open', e.status === 'upcoming')
    if (base === undefined || (!dirty && !busy)) fill(e)
    over = e.status !== 'upcoming'
    started.textContent = over ? w.opsEditStarted : ''
    for (const input of inputs) input.toggleAttribute('disabled', over)
    save.toggleAttribute('disabled', over || busy)
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault()
    // One request per submission: a second click while the first is on its way does nothing.
    if (busy || base === undefined) return
    said.textContent = ''
    message.textContent = ''
    const startMs = fromLocalInput(start.value)
    const endMs = fromLocalInput(end.value)
    if (!Number.isFinite(startMs) || !Number.isFinite(endMs)) { message.textContent = w.opsEditBadTime; return }
    const cents = Math.round(Number(price.value) * 100)
    const body: Record<string, unknown> = {}
    if (title.value !== base.title) body.title = title.value
    // Emptied: the sale has no description any more.
    const text = description.value.trim() === '' ? null : description.value
    if (text !== (base.description ?? null)) body.description = text
    if (cents !== base.price_cents) body.price_cents = cents
    // The inputs hold whole seconds: a start kept as it was is not sent.
    if (seconds(startMs) !== seconds(Date.parse(base.start_at))) body.start_at = new Date(startMs).toISOString()
    if (seconds(endMs) !== seconds(Date.parse(base.end_at))) body.end_at = new Date(endMs).toISOString()
    if (Object.keys(body).length === 0) { said.textContent = w.opsEditNothing; return }
    busy = true
    save.setAttribute('disabled', '')
    save.textContent = w.opsEditSaving
    api<SaleEvent>('PATCH', `/admin/events/${id}`, { session, body })
      .then((e) => { fill(e); said.textContent = w.opsEditSaved(when(e.start_at)); changed() })
      .catch((err: unknown) => {
        message.textContent = isApiError(err) && err.code === 'EVENT_NOT_EDITABLE' ? w.opsEditTooLate : w.opsEditRefused(describe(err))
      })
      .finally(() => {
        busy = false
        save.textContent = w.opsEditSave
        save.toggleAttribute('disabled', over)
      })
  })
  return { element, update }
}

/** The message to everyone in the sale's line: what is shown now, a box to send one, and a way to remove it. */
export function lineMessageForm (session: Session, id: number, changed: () => void): { element: HTMLElement, update: (e: SaleEvent) => void } {
  const w = m()
  const now = el('p', { id: 'message-now' })
  const text = el('textarea', { name: 'message', rows: '3' })
  const send = el('button', { type: 'submit', id: 'message-send' }, w.opsMessageSend)
  const clear = el('button', { type: 'button', class: 'secondary', id: 'message-clear' }, w.opsMessageClear)
  const said = el('p', { class: 'notice', role: 'status', id: 'message-said' })
  const message = el('p', { class: 'message', role: 'alert', id: 'message-error' })
  const form = el('form', { id: 'line-message-form', 'aria-labelledby': 'message-title' },
    field('message-text', w.opsMessageText, text), el('p', { class: 'actions' }, send, ' ', clear), said, message)
  // Folded unless a message is shown when first read: a running sale's page stays short.
  const element = el('details', { id: 'message', class: 'panel' }, el('summary', {}, el('h2', { id: 'message-title' }, w.opsMessage)), now, form)
  let busy = false
  let first = true
  const update = (e: SaleEvent): void => {
    if (first) element.toggleAttribute('open', e.line_message != null)
    first = false
    // As text, never as markup: the message is whatever an operator typed.
    now.textContent = e.line_message != null && e.line_message_at != null ? w.opsMessageNow(clock(e.line_message_at), e.line_message) : w.opsMessageNone
    clear.hidden = e.line_message == null
  }
  const post = (body: string, done: (e: SaleEvent) => string): void => {
    if (busy) return
    busy = true
    said.textContent = ''
    message.textContent = ''
    for (const b of [send, clear]) b.setAttribute('disabled', '')
    api<SaleEvent>('POST', `/admin/events/${id}/message`, { session, body: { text: body } })
      .then((e) => { update(e); said.textContent = done(e); changed() })
      .catch((err: unknown) => { message.textContent = describe(err) })
      .finally(() => { busy = false; for (const b of [send, clear]) b.removeAttribute('disabled') })
  }
  form.addEventListener('submit', (ev) => {
    ev.preventDefault()
    const trimmed = text.value.trim()
    if (trimmed === '') { message.textContent = w.opsMessageEmpty; text.focus(); return }
    const length = [...trimmed].length
    if (length > MESSAGE_MAX) { message.textContent = w.opsMessageLong(count(length)); text.focus(); return }
    post(trimmed, (e) => { text.value = ''; return w.opsMessageSent(clock(e.line_message_at ?? Date.now())) })
  })
  clear.addEventListener('click', () => post('', () => w.opsMessageCleared))
  return { element, update }
}
