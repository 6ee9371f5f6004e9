/**
 * The operator page (admins only): create a sale (ops-create.ts), pick one and watch it live
 * (ops-live.ts), act on it (pause, resume, end early), ban and unban buyers, and read the audit
 * trail (ops-controls.ts); change it before its start and send a message to everyone in its line
 * (ops-edit.ts). In the page's language, from the one message catalogue.
 */
import { api, clockOffset, describe, el, loadSession, saveSession, signIn, whenSessionEnds } from './api'
import type { Page, SaleEvent } from './api'
import { LOCALES, locale, m, setLocale } from './i18n'
import type { Locale } from './i18n'
import { CATALOGUE } from './messages'
import { createForm } from './ops-create'
import { auditTrail, banForm, saleControls } from './ops-controls'
import { editForm, lineMessageForm } from './ops-edit'
import { watchSale } from './ops-live'

let session = loadSession()
whenSessionEnds(() => { session = undefined; start() })
let offset = 0
const serverNow = (): number => Date.now() + offset
/** Stops the current view's timers. */
let stopView: () => void = () => undefined
const view = document.getElementById('view') as HTMLElement
const account = document.getElementById('account') as HTMLElement

function field (id: string, label: string, input: HTMLInputElement): HTMLElement {
  input.id = id
  return el('div', { class: 'field' }, el('label', { for: id }, label), input)
}

function renderAccount (): void {
  const w = m()
  account.replaceChildren()
  if (session?.role === 'admin') {
    const out = el('button', { type: 'button', class: 'secondary' }, w.signOut)
    out.addEventListener('click', () => { session = undefined; saveSession(undefined); start() })
    account.append(el('span', { id: 'signed-in' }, w.opsSignedInAs(session.email)), ' ', out)
    return
  }
  const email = el('input', { type: 'email', required: '', autocomplete: 'username' })
  const password = el('input', { type: 'password', required: '', autocomplete: 'current-password' })
  const message = el('p', { class: 'message', role: 'alert' }, session !== undefined ? w.opsNotOperator : '')
  const submit = el('button', { type: 'submit', id: 'sign-in' }, w.signIn)
  const form = el('form', { class: 'signin', 'aria-label': w.signIn }, field('ops-email', w.email, email), field('ops-password', w.password, password), submit, message)
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    submit.setAttribute('disabled', '')
    signIn('login', email.value, password.value).then((s) => {
      if (s.role !== 'admin') { message.textContent = w.opsNotOperator; return }
      session = s
      saveSession(s)
      start()
      // Signed in: the focus goes to the page's heading, not back to <body>.
      const h1 = view.querySelector('h1')
      h1?.setAttribute('tabindex', '-1')
      h1?.focus()
    }).catch((err: unknown) => { message.textContent = describe(err) })
      .finally(() => submit.removeAttribute('disabled'))
  })
  account.append(form)
}

function drawLanguage (): void {
  const w = m()
  const select = el('select', { id: 'lang' }, ...LOCALES.map((l) => {
    const o = el('option', { value: l, lang: l }, CATALOGUE[l].languageName)
    if (l === locale()) o.setAttribute('selected', '')
    return o
  }))
  select.addEventListener('change', () => { setLocale(select.value as Locale); drawLanguage(); start(); document.getElementById('lang')?.focus() })
  document.getElementById('lang-switch')?.replaceChildren(el('label', { for: 'lang' }, w.language), ' ', select)
  const brand = document.querySelector('.brand')
  if (brand !== null) brand.textContent = w.opsBrand
  document.title = w.opsBrand
  const nav = document.getElementById('nav')
  nav?.replaceChildren(el('a', { href: '/' }, w.opsBuyerPage))
}

async function eventPicker (selected: number | undefined, onPick: (id: number) => void): Promise<HTMLElement> {
  const w = m()
  const [active, upcoming] = await Promise.all([
    api<Page<SaleEvent>>('GET', '/events?status=active&sort=start_at,desc&page_size=50'),
    api<Page<SaleEvent>>('GET', '/events?status=upcoming&sort=start_at,asc&page_size=50')
  ])
  const select = el('select', { id: 'event-picker' },
    el('option', { value: '' }, w.opsChoose),
    ...[...active.items, ...upcoming.items].map((e) => {
      const o = el('option', { value: String(e.id) }, `#${e.id} ${e.title} (${w.statusWord(e.paused ? 'paused' : e.status)})`)
      if (e.id === selected) o.setAttribute('selected', '')
      return o
    }))
  select.addEventListener('change', () => { if (select.value !== '') onPick(Number(select.value)) })
  return el('div', { class: 'field' }, el('label', { for: 'event-picker' }, w.opsWatching), select)
}

function start (): void {
  stopView()
  renderAccount()
  const w = m()
  if (session?.role !== 'admin') {
    view.replaceChildren(el('h1', {}, w.opsTitlePage), el('p', {}, w.opsSignInFirst))
    return
  }
  const admin = session
  const picker = el('div', { id: 'picker' })
  const panel = el('div', { id: 'live' })
  const controlsSlot = el('div', { id: 'controls-slot' })
  const trail = auditTrail(admin)
  let timers: number[] = []
  let stopWatch: () => void = () => undefined
  stopView = () => { for (const t of timers) window.clearInterval(t); timers = []; stopWatch() }
  const pick = (id: number): void => {
    history.replaceState(null, '', `/ops#${id}`)
    for (const t of timers) window.clearInterval(t)
    stopWatch()
    // The watched sale's controls, kept in step with the sale (paused, ended) every 2 s.
    const acted = (): void => { trail.refresh(); refreshControls() }
    const controls = saleControls(admin, id, acted)
    const note = lineMessageForm(admin, id, acted)
    const edit = editForm(admin, id, acted)
    const refreshControls = (): void => {
      api<SaleEvent>('GET', `/events/${id}`).then((e) => { controls.update(e); note.update(e); edit.update(e) }).catch(() => undefined)
    }
    controlsSlot.replaceChildren(controls.element, note.element, edit.element)
    refreshControls()
    const refreshPicker = (): void => {
      // Not while the operator is choosing in it.
      if (picker.contains(document.activeElement)) return
      eventPicker(id, pick).then((p) => picker.replaceChildren(p)).catch(() => undefined)
    }
    refreshPicker()
    timers = [window.setInterval(refreshControls, 2000), window.setInterval(refreshPicker, 10_000)]
    stopWatch = watchSale(panel, admin, id)
  }
  view.replaceChildren(el('h1', {}, w.opsTitlePage),
    el('section', { id: 'watch', 'aria-labelledby': 'watch-title' }, el('h2', { id: 'watch-title' }, w.opsLive), picker, controlsSlot, panel),
    createForm(admin, serverNow, pick),
    banForm(admin, () => trail.refresh()), trail.element)
  const fromHash = Number(location.hash.slice(1))
  if (Number.isSafeInteger(fromHash) && fromHash > 0) pick(fromHash)
  else eventPicker(undefined, pick).then((p) => picker.replaceChildren(p)).catch((err: unknown) => { panel.textContent = describe(err) })
}

drawLanguage()
clockOffset().then((o) => { offset = o }).catch(() => undefined).finally(start)
