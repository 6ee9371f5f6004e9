/**
 * The pages' language and formats: the locale (the buyer's choice, else the browser's languages,
 * else English), its messages from the one catalogue (messages.ts), and prices, times, counts and
 * durations formatted with Intl for that locale and the sale's currency. Nothing on a page formats
 * a number or a time by hand.
 */
import { CATALOGUE, LOCALES } from './messages'
import type { Locale, Messages } from './messages'

export type { Locale, Messages } from './messages'
export { LOCALES } from './messages'

const LOCALE_KEY = 'seckill.locale'

/** The locale a browser asks for: Chinese in any script or region reads Simplified Chinese (the seeds' market). */
export function pickLocale (languages: readonly string[], saved: string | null): Locale {
  if (saved !== null && (LOCALES as readonly string[]).includes(saved)) return saved as Locale
  for (const lang of languages) {
    const l = lang.toLowerCase()
    if (l.startsWith('zh')) return 'zh-CN'
    if (l.startsWith('en')) return 'en'
  }
  return 'en'
}

let current: Locale = pickLocale(navigator.languages ?? [navigator.language], localStorage.getItem(LOCALE_KEY))

export function locale (): Locale { return current }

/** The current locale's messages. */
export function m (): Messages { return CATALOGUE[current] }

export function setLocale (l: Locale): void {
  current = l
  localStorage.setItem(LOCALE_KEY, l)
  document.documentElement.lang = l
}
document.documentElement.lang = current

/** The sale's currency (ISO 4217), as the service reports it (GET /site). */
let currency = 'USD'
export function setCurrency (c: string): void { currency = c.toUpperCase() }

/** A price in the service's currency, e.g. "$99.00" or "US$99.00" / "¥99.00". */
export function money (cents: number): string {
  return new Intl.NumberFormat(current, { style: 'currency', currency }).format(cents / 100)
}

export function count (n: number): string {
  return new Intl.NumberFormat(current).format(n)
}

/** A moment with its date, time and time zone, e.g. "Sat, 5 Dec 2026, 07:00 UTC". */
export function when (at: number | string): string {
  return new Intl.DateTimeFormat(current, { weekday: 'short', year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' }).format(new Date(at))
}

/** A time of day with seconds and time zone, for "updated at" and deadlines. */
export function clock (at: number | string): string {
  return new Intl.DateTimeFormat(current, { hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' }).format(new Date(at))
}

/** A countdown: "1 h 02 min 05 s" / "1小时02分05秒". */
export function duration (ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000))
  const h = Math.floor(total / 3600)
  const min = Math.floor((total % 3600) / 60)
  const s = total % 60
  return m().duration(h, min, s)
}

/** A rough wait, rounded so it does not flicker: "about 30 s", "about 2 min". */
export function roughDuration (ms: number): string {
  const s = Math.max(1, Math.round(ms / 1000))
  if (s < 60) return m().aboutSeconds(s < 10 ? s : Math.round(s / 5) * 5)
  return m().aboutMinutes(Math.round(s / 60))
}
