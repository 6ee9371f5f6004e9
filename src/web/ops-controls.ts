/**
 * The operator's hands on the watched sale: pause and resume (the drains read the hold from the
 * sale's row, so it holds on every worker), end early (asked first), ban and unban a buyer, and
 * the audit trail of every admin action, newest first. Each action says what it did, and the
 * trail below shows it recorded.
 */
import { api, describe, el } from './api'
import type { Page, SaleEvent, Session } from './api'
import { clock, m, when } from './i18n'

interface AuditEntry {
  id: string
  at: string
  actor_id: string | null
  action: string
  target_type: string
  target_id: string | null
  detail: unknown
  outcome: 'done' | 'refused' | 'failed'
}

/** Asks a yes/no question in a modal dialog; true for yes. */
export function confirmDialog (id: string, title: string, text: string, yesLabel: string, noLabel: string): Promise<boolean> {
  const no = el('button', { type: 'button', class: 'secondary', id: `${id}-no` }, noLabel)
  const yes = el('button', { type: 'button', class: 'danger', id: `${id}-yes` }, yesLabel)
  const dialog = el('dialog', { id, 'aria-labelledby': `${id}-title`, 'aria-describedby': `${id}-text` },
    el('h2', { id: `${id}-title` }, title), el('p', { id: `${id}-text` }, text), el('p', { class: 'actions' }, no, ' ', yes))
  document.body.append(dialog)
  return new Promise((resolve) => {
    let answer = false
    no.addEventListener('click', () => dialog.close())
    yes.addEventListener('click', () => { answer = true; dialog.close() })
    dialog.addEventListener('close', () => { dialog.remove(); resolve(answer) })
    dialog.showModal()
    no.focus()
  })
}

/** The sale's controls: a line saying its state, and the buttons that fit it. `changed` runs after each action. */
export function saleControls (session: Session, id: number, changed: () => void): { element: HTMLElement, update: (e: SaleEvent) => void } {
  const w = m()
  const state = el('p', { id: 'sale-state', class: 'big' })
  const pause = el('button', { type: 'button', id: 'pause' }, w.opsPause)
  const resume = el('button', { type: 'button', id: 'resume' }, w.opsResume)
  const end = el('button', { type: 'button', class: 'danger', id: 'end-sale' }, w.opsEnd)
  const said = el('p', { class: 'notice', role: 'status', id: 'controls-said' })
  const message = el('p', { class: 'message', role: 'alert' })
  const element = el('section', { id: 'controls', 'aria-labelledby': 'controls-title' },
    el('h2', { id: 'controls-title' }, w.opsControls), state, el('p', { class: 'actions' }, pause, ' ', resume, ' ', end), said, message)
  let event: SaleEvent | undefined
  const act = (button: HTMLButtonElement, path: string, done: (e: SaleEvent) => string): void => {
    button.setAttribute('disabled', '')
    message.textContent = ''
    api<SaleEvent>('POST', `/admin/events/${id}/${path}`, { session })
      .then((e) => { update(e); said.textContent = done(e); changed() })
      .catch((err: unknown) => { message.textContent = describe(err) })
      .finally(() => { if (event !== undefined) update(event) })
  }
  const update = (e: SaleEvent): void => {
    event = e
    const now = Date.now()
    const over = e.status === 'ended' || Date.parse(e.end_at) <= now
    state.textContent = over ? w.opsStateEnded : e.paused ? w.opsStatePaused : e.status === 'upcoming' ? w.opsStateUpcoming(when(e.start_at)) : w.opsStateRunning
    pause.hidden = over || e.paused
    resume.hidden = over || !e.paused
    end.hidden = over || e.status === 'upcoming'
    for (const b of [pause, resume, end]) b.removeAttribute('disabled')
  }
  pause.addEventListener('click', () => { act(pause, 'pause', () => w.opsPausedSaid(clock(Date.now()))); resume.focus() })
  resume.addEventListener('click', () => { act(resume, 'resume', () => w.opsResumedSaid(clock(Date.now()))); pause.focus() })
  end.addEventListener('click', () => {
    void confirmDialog('end-dialog', w.opsEndTitle, w.opsEndText, w.opsEndYes, w.opsEndNo).then((yes) => {
      if (yes) act(end, 'end', () => w.opsEndedSaid(clock(Date.now())))
      else end.focus()
    })
  })
  return { element, update }
}

/** Ban and unban a buyer by account id, with the reason recorded. */
export function banForm (session: Session, changed: () => void): HTMLElement {
  const w = m()
  const user = el('input', { id: 'ban-user', name: 'user', inputmode: 'numeric', pattern: '[0-9]{1,16}', required: '' })
  const reason = el('input', { id: 'ban-reason', name: 'reason', maxlength: '200' })
  const ban = el('button', { type: 'submit', id: 'ban', class: 'danger' }, w.opsBan)
  const unban = el('button', { type: 'button', id: 'unban', class: 'secondary' }, w.opsUnban)
  const said = el('p', { class: 'notice', role: 'status', id: 'ban-said' })
  const message = el('p', { class: 'message', role: 'alert' })
  const form = el('form', { id: 'bans', class: 'panel', 'aria-labelledby': 'bans-title' },
    el('h2', { id: 'bans-title' }, w.opsBans),
    el('div', { class: 'field' }, el('label', { for: 'ban-user' }, w.opsBanUser), user),
    el('div', { class: 'field' }, el('label', { for: 'ban-reason' }, w.opsBanReason), reason),
    el('p', { class: 'actions' }, ban, ' ', unban), said, message)
  const send = (path: 'ban' | 'unban'): void => {
    message.textContent = ''
    said.textContent = ''
    if (!user.checkValidity()) { message.textContent = w.opsBanUserBad; user.focus(); return }
    if (path === 'ban' && reason.value.trim() === '') { message.textContent = w.opsBanReasonNeeded; reason.focus(); return }
    api<{ id: string, email: string, banned: boolean }>('POST', `/admin/users/${user.value}/${path}`, { session, body: path === 'ban' ? { reason: reason.value.trim() } : undefined })
      .then((u) => { said.textContent = u.banned ? w.opsBannedSaid(u.email) : w.opsUnbannedSaid(u.email); changed() })
      .catch((err: unknown) => { message.textContent = describe(err) })
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); send('ban') })
  unban.addEventListener('click', () => send('unban'))
  return form
}

/** The audit trail, newest first: who did what to which target, and whether it was done. */
export function auditTrail (session: Session): { element: HTMLElement, refresh: () => void } {
  const w = m()
  const body = el('tbody', {})
  const message = el('p', { class: 'message', role: 'alert' })
  const reload = el('button', { type: 'button', class: 'secondary', id: 'audit-refresh' }, w.opsAuditRefresh)
  const element = el('section', { id: 'audit', class: 'panel', 'aria-labelledby': 'audit-title' },
    el('h2', { id: 'audit-title' }, w.opsAudit), reload,
    // Scrolls on its own: reachable by keyboard (tabindex) so its rows can be scrolled without a mouse.
    el('div', { class: 'table-wrap', tabindex: '0' }, el('table', {},
      el('caption', { class: 'visually-hidden' }, w.opsAudit),
      el('thead', {}, el('tr', {}, ...[w.opsAuditAt, w.opsAuditWho, w.opsAuditAction, w.opsAuditTarget, w.opsAuditOutcome].map((h) => el('th', { scope: 'col' }, h)))),
      body)), message)
  const refresh = (): void => {
    api<Page<AuditEntry>>('GET', '/admin/audit?page_size=20&sort=at,desc', { session }).then((p) => {
      message.textContent = ''
      body.replaceChildren(...p.items.map((a) => el('tr', { 'data-action': a.action },
        el('td', {}, when(a.at)), el('td', {}, a.actor_id === null ? '—' : `#${a.actor_id}`), el('td', {}, a.action),
        el('td', {}, `${a.target_type}${a.target_id === null ? '' : ` #${a.target_id}`}`), el('td', {}, w.opsOutcome(a.outcome)))))
    }).catch((err: unknown) => { message.textContent = describe(err) })
  }
  reload.addEventListener('click', refresh)
  refresh()
  return { element, refresh }
}
