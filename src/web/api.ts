/** The service's JSON API as the pages use it: the envelope, the session, the server clock. */
import { m, setCurrency } from './i18n'
// The answers' shapes are the service's own (src/shapes/api.ts), imported as types only.
export type { EventView as SaleEvent, TicketView as Ticket, OrderView as Order, Page, SaleStats, ShardStats } from '../shapes/api'

export interface ApiError {
  readonly status: number
  readonly code: string
  readonly message: string
  /** From Retry-After: how long the service asked the page to wait before trying again. */
  readonly retryAfterMs?: number
}

export interface Session {
  readonly email: string
  readonly role: 'user' | 'admin'
  /** Replaced in place when the session is refreshed (every view holding it sees the new one). */
  access_token: string
  /** Absent in a session saved before the pages kept it: such a session ends with its access token. */
  refresh_token?: string
}

const SESSION_KEY = 'seckill.session'

export function loadSession (): Session | undefined {
  try {
    const raw = localStorage.getItem(SESSION_KEY)
    return raw === null ? undefined : JSON.parse(raw) as Session
  } catch {
    return undefined
  }
}

export function saveSession (s: Session | undefined): void {
  if (s === undefined) localStorage.removeItem(SESSION_KEY)
  else localStorage.setItem(SESSION_KEY, JSON.stringify(s))
}

export function isApiError (err: unknown): err is ApiError {
  return typeof err === 'object' && err !== null && 'status' in err && 'code' in err
}

/** Words for an error, for the page (never a bare code), in the page's language. */
export function describe (err: unknown): string {
  const w = m()
  if (isApiError(err)) {
    if (err.status === 429) return w.tooMany
    if (err.code === 'OVERLOADED') return w.busy
    if (err.code === 'INVALID_CREDENTIALS') return w.wrongCredentials
    if (err.code === 'EMAIL_TAKEN') return w.emailTaken
    if (err.code === 'WEAK_PASSWORD') return w.weakPassword
    if (err.code === SESSION_ENDED) return w.sessionEnded
    if (err.status === 401) return w.signInAgain
    if (err.code === 'ACCOUNT_BANNED') return w.banned
    return err.message
  }
  return w.unreachable
}

/** True for a request that got no answer (the connection banner says so; the page retries). */
export function isUnreachable (err: unknown): boolean {
  return !isApiError(err)
}

/**
 * How long to wait before asking again after `err`: what the service said (Retry-After), within
 * bounds, else `fallbackMs`.
 */
export function retryDelay (err: unknown, fallbackMs: number): number {
  const asked = isApiError(err) ? err.retryAfterMs : undefined
  return asked === undefined ? fallbackMs : Math.min(10_000, Math.max(250, asked))
}

/** The code of the error a request ends with when its session is gone for good (refresh refused). */
export const SESSION_ENDED = 'SESSION_ENDED'

let sessionEnded: (() => void) | undefined
/** Called when a session ends for good, so the page can show its sign-in form where the buyer is. */
export function whenSessionEnds (fn: () => void): void {
  sessionEnded = fn
}

let refreshing: Promise<'refreshed' | 'ended' | 'unreachable'> | undefined

/**
 * New tokens for `session` from its refresh token: one exchange for all the requests of this page
 * that met a 401 at once. Another tab may have refreshed first (the tokens in storage are newer):
 * those are taken instead, since presenting a rotated token after the server's grace period would
 * end the session everywhere.
 */
async function refresh (session: Session): Promise<'refreshed' | 'ended' | 'unreachable'> {
  refreshing ??= (async () => {
    try {
      const stored = loadSession()
      if (stored?.email === session.email && stored.refresh_token !== undefined && stored.refresh_token !== session.refresh_token) {
        session.access_token = stored.access_token
        session.refresh_token = stored.refresh_token
        return 'refreshed'
      }
      if (session.refresh_token === undefined) return 'ended'
      const res = await fetch('/api/v1/auth/refresh', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: session.refresh_token }) })
      if (res.status >= 500) return 'unreachable'
      if (!res.ok) return 'ended'
      const { data } = await res.json() as { data: { access_token: string, refresh_token: string } }
      session.access_token = data.access_token
      session.refresh_token = data.refresh_token
      saveSession(session)
      return 'refreshed'
    } catch {
      return 'unreachable'
    } finally {
      refreshing = undefined
    }
  })()
  return await refreshing
}

/**
 * A banner at the top of the page while the service cannot be reached: the device is offline, or
 * a request got no answer. It clears itself on the next answer (or when the device is back online).
 */
function connection (down: boolean): void {
  let banner = document.getElementById('connection')
  if (banner === null) {
    banner = el('div', { id: 'connection', role: 'status' })
    document.body.prepend(banner)
  }
  banner.textContent = !down ? '' : navigator.onLine ? m().serviceDown : m().offline
}
window.addEventListener('offline', () => connection(true))
window.addEventListener('online', () => connection(false))

export async function api<T> (method: string, path: string, opts: { body?: unknown, headers?: Record<string, string>, session?: Session } = {}): Promise<T> {
  const send = async (): Promise<Response> => {
    const headers: Record<string, string> = { ...opts.headers }
    if (opts.session !== undefined) headers.authorization = `Bearer ${opts.session.access_token}`
    if (opts.body !== undefined) headers['content-type'] = 'application/json'
    try {
      const answer = await fetch(`/api/v1${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) })
      connection(false)
      return answer
    } catch (err) {
      connection(true)
      throw err
    }
  }
  let res = await send()
  // An expired access token: refreshed silently, and the request sent once more.
  if (res.status === 401 && opts.session !== undefined && !path.startsWith('/auth/')) {
    const outcome = await refresh(opts.session)
    if (outcome === 'refreshed') res = await send()
    else if (outcome === 'ended') {
      saveSession(undefined)
      sessionEnded?.()
      throw { status: 401, code: SESSION_ENDED, message: 'session ended' } satisfies ApiError
    }
  }
  const text = await res.text()
  const parsed = text === '' ? {} : JSON.parse(text) as { code?: string | number, message?: string, data?: T }
  if (!res.ok) {
    const seconds = Number(res.headers.get('retry-after') ?? NaN)
    throw {
      status: res.status,
      code: String(parsed.code ?? res.status),
      message: parsed.message ?? res.statusText,
      ...(Number.isFinite(seconds) && seconds >= 0 ? { retryAfterMs: seconds * 1000 } : {})
    } satisfies ApiError
  }
  return parsed.data as T
}

/** Signs in (or up) and returns the session, with the role read from the token. */
export async function signIn (mode: 'login' | 'register', email: string, password: string): Promise<Session> {
  const r = await api<{ access_token: string, refresh_token: string }>('POST', `/auth/${mode}`, { body: { email, password } })
  const claims = JSON.parse(atob((r.access_token.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/'))) as { role?: string }
  return { email, role: claims.role === 'admin' ? 'admin' : 'user', access_token: r.access_token, refresh_token: r.refresh_token }
}

/**
 * Server time minus this device's time (ms), measured over one round trip, so countdowns and
 * deadlines run on the server's clock (a device set wrong still sees the sale open on time); and
 * the currency the service charges in, for prices.
 */
export async function clockOffset (): Promise<number> {
  const sent = Date.now()
  const site = await api<{ now: number, currency: string }>('GET', '/site')
  const received = Date.now()
  setCurrency(site.currency)
  return site.now - (sent + received) / 2
}

/** Builds an element: `el('p', { class: 'x' }, 'text', child)`. */
export function el<K extends keyof HTMLElementTagNameMap> (tag: K, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v)
  node.append(...children)
  return node
}
