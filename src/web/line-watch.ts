/**
 * The pace of the line as one buyer's page sees it, and the wait it shows: measured from how fast
 * the buyer's own place has dropped since it first moved (an average over the whole wait, so a
 * drain that decides in batches -- one poll sees one batch, the next two -- does not swing it),
 * else the service's estimate (the drain's measured rate, kept across sales), else no number at
 * all rather than a guess. A place that has not moved for a while reads as a paused line.
 *
 * The number shown never rises and never falls by much more than the time that passed: a line
 * found slower than shown holds the number until the time catches up with it; a line found faster
 * brings it down by at most a quarter more per reading (test/unit/line-watch.test.ts feeds it
 * even, bursty and stalling lines).
 */
import type { Ticket } from './api'

/** With the place unchanged this long, the page says the line is paused. */
export const PAUSED_AFTER_MS = 5000
/** The page's own pace is used once it spans this long and two moves of the place. */
const MEASURE_AFTER_MS = 3000

export interface LineState {
  /** The place the buyer first had (the progress bar's length). */
  readonly first: number
  /** Expected wait in ms; undefined while nothing is known. */
  readonly etaMs: number | undefined
  readonly paused: boolean
  /** When the page last heard from the service (device clock). */
  readonly heardAt: number
}

export class LineWatch {
  private place: number | undefined
  private first: number | undefined
  private movedAt = Date.now()
  /** The place and time of the first move seen, and how many moves since. */
  private anchor: { place: number, at: number, moves: number } | undefined
  private shownEta: number | undefined
  private shownAt = Date.now()

  see (t: Ticket, now = Date.now()): LineState {
    if (t.status !== 'queued' || t.position === undefined) return { first: this.first ?? 1, etaMs: undefined, paused: false, heardAt: now }
    if (this.place === undefined || t.position > this.place) {
      // A new place further back (a new ticket, a place served from the waitlist): start over.
      this.first = t.position
      this.anchor = undefined
      this.shownEta = undefined
      this.place = t.position
      this.movedAt = now
    } else if (t.position < this.place) {
      if (this.anchor === undefined) this.anchor = { place: t.position, at: now, moves: 0 }
      else this.anchor.moves++
      this.place = t.position
      this.movedAt = now
    }
    const first = Math.max(this.first ?? 0, t.position)
    this.first = first
    const paused = now - this.movedAt >= PAUSED_AFTER_MS
    const a = this.anchor
    const perMs = a !== undefined && a.moves >= 1 && now - a.at >= MEASURE_AFTER_MS ? (a.place - t.position) / (now - a.at) : undefined
    const raw = perMs !== undefined && perMs > 0 ? t.position / perMs : t.eta_ms
    return { first, etaMs: this.steady(raw, now), paused, heardAt: now }
  }

  /** The estimate shown: counts down with the time that passed; see the module's comment. */
  private steady (raw: number | undefined, now: number): number | undefined {
    if (this.shownEta === undefined) {
      if (raw === undefined) return undefined
      this.shownEta = raw
      this.shownAt = now
      return raw
    }
    const projected = Math.max(0, this.shownEta - (now - this.shownAt))
    // Slower than shown: hold the number (not below what is measured, never above what was shown).
    const shown = raw === undefined ? projected
      : raw >= projected ? Math.min(raw, this.shownEta)
        : Math.max(raw, projected - 0.25 * Math.max(projected, 1000))
    this.shownEta = shown
    this.shownAt = now
    return shown
  }
}
