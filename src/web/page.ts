/**
 * What every view of the buyer page shares: the session, the server's clock, the timers of the
 * current view (cleared when the view changes), focus moves and the one live region. A view never
 * makes its own live region: the ticket box is rewritten every poll, and a screen reader would
 * read all of it each time.
 */
import { loadSession } from './api'
import type { Session } from './api'

export const state: { session: Session | undefined, offset: number, viewToken: number } = {
  session: loadSession(),
  offset: 0,
  viewToken: 0
}

let timers: number[] = []

/** The server's clock (ms since the epoch), from the device's and the measured offset. */
export const serverNow = (): number => Date.now() + state.offset

/** Runs `fn` every `ms` while the current view stays. */
export function every (ms: number, fn: () => void): void {
  timers.push(window.setInterval(fn, ms))
}

/** A new view: the old one's timers stop; returns the new view's token. */
export function newView (): number {
  for (const t of timers) window.clearInterval(t)
  timers = []
  return ++state.viewToken
}

/** Moves the keyboard focus to `target` (a heading or a status), without scrolling away. */
export function focusOn (target: Element | null): void {
  if (!(target instanceof HTMLElement)) return
  if (!target.hasAttribute('tabindex') && !(target instanceof HTMLButtonElement || target instanceof HTMLInputElement || target instanceof HTMLAnchorElement)) target.setAttribute('tabindex', '-1')
  target.focus({ preventScroll: true })
}

let lastSaid = ''
/** Says `text` to screen readers once; the same text again says nothing. */
export function announce (text: string): void {
  if (text === lastSaid) return
  lastSaid = text
  const region = document.getElementById('announce')
  if (region !== null) region.textContent = text
}
