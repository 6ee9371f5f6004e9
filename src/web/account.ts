/**
 * The header's account corner: signed out, a sign-in form (Enter signs in) and, one click away, a
 * separate sign-up form (Enter creates the account) with the password rules shown before the
 * first try; every field has a visible label. Signed in, who it is and Sign out.
 */
import { describe, el, saveSession, signIn } from './api'
import { m } from './i18n'
import { focusOn, state } from './page'

export type AccountMode = 'signin' | 'signup'

let mode: AccountMode = 'signin'

/** A labelled field: the label is visible and names the input (for screen readers and tests alike). */
function field (id: string, label: string, attrs: Record<string, string>, hint?: HTMLElement): { row: HTMLElement, input: HTMLInputElement } {
  const input = el('input', { id, name: id, required: '', ...attrs })
  if (hint !== undefined) input.setAttribute('aria-describedby', hint.id)
  return { row: el('div', { class: 'field' }, el('label', { for: id }, label), input, ...(hint !== undefined ? [hint] : [])), input }
}

/**
 * Draws the account corner into `box`. `changed` runs after signing in or out (the view redraws
 * for the new session).
 */
export function renderAccount (box: HTMLElement, changed: () => Promise<void> | void): void {
  const w = m()
  box.replaceChildren()
  if (state.session !== undefined) {
    const out = el('button', { type: 'button', class: 'secondary', id: 'sign-out' }, w.signOut)
    out.addEventListener('click', () => {
      state.session = undefined
      saveSession(undefined)
      renderAccount(box, changed)
      void changed()
    })
    box.append(el('span', { id: 'signed-in' }, w.signedInAs(state.session.email)), ' ', out)
    return
  }
  const signup = mode === 'signup'
  const rules = el('p', { id: 'password-rules', class: 'hint' }, w.passwordRules)
  const email = field('account-email', w.email, { type: 'email', autocomplete: 'username' })
  const password = field('account-password', w.password, {
    type: 'password',
    minlength: '8',
    maxlength: '128',
    autocomplete: signup ? 'new-password' : 'current-password'
  }, signup ? rules : undefined)
  const message = el('p', { class: 'message', role: 'alert' })
  const submit = el('button', { type: 'submit', id: signup ? 'sign-up' : 'sign-in' }, signup ? w.signUp : w.signIn)
  const other = el('button', { type: 'button', class: 'link', id: signup ? 'sign-in-link' : 'sign-up-link' }, signup ? w.signIn : w.signUp)
  const form = el('form', { class: `signin ${mode}`, 'aria-labelledby': 'account-title' },
    el('p', { id: 'account-title', class: 'account-title' }, signup ? w.signUpTitle : w.signInTitle),
    email.row, password.row, submit, message,
    el('p', { class: 'switch' }, signup ? w.haveAccount : w.newHere, ' ', other))
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    message.textContent = ''
    submit.setAttribute('disabled', '')
    signIn(signup ? 'register' : 'login', email.input.value, password.input.value).then(async (s) => {
      state.session = s
      saveSession(s)
      mode = 'signin'
      renderAccount(box, changed)
      await changed()
    }).catch((err: unknown) => {
      message.textContent = describe(err)
      submit.removeAttribute('disabled')
      focusOn(password.input)
    })
  })
  other.addEventListener('click', () => {
    mode = signup ? 'signin' : 'signup'
    renderAccount(box, changed)
    focusOn(box.querySelector('input'))
  })
  box.append(form)
}
