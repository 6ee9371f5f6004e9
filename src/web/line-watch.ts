/**
 * The pace of the line as one buyer's page sees it, and the wait it shows: measured from how fast
 * the buyer's own place drops (smoothed, so one quick or slow batch does not make it jump), else
 * the service's estimate (the drain's measured rate, kept across sales), else no number at all
 * rather than a guess. A place that has not moved for a while reads as a paused line.
 */
import type { Ticket } from './api'

/** With the place unchanged this long, the page says the line is paused. */
export const PAUSED_AFTER_MS = 5000
/** Weight of the newest measurement in the smoothed rate. */
const SMOOTHING = 0.3

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
  private perSecond: number | undefined
  private shownEta: number | undefined
  private shownAt = Date.now()

  see (t: Ticket, now = Date.now()): LineState {
    if (t.status !== 'queued' || t.position === undefined) return { first: this.first ?? 1, etaMs: undefined, paused: false, heardAt: now }
    this.first = Math.max(this.first ?? 0, t.position)
    if (this.place === undefined || t.position > this.place) {
      this.place = t.position
      this.movedAt = now
    } else if (t.position < this.place) {
      const seconds = Math.max(0.001, (now - this.movedAt) / 1000)
      const measured = (this.place - t.position) / seconds
      this.perSecond = this.perSecond === undefined ? measured : SMOOTHING * measured + (1 - SMOOTHING) * this.perSecond
      this.place = t.position
      this.movedAt = now
    }
    const paused = now - this.movedAt >= PAUSED_AFTER_MS
    const raw = this.perSecond !== undefined && this.perSecond > 0 ? t.position / this.perSecond * 1000 : t.eta_ms
    return { first: this.first, etaMs: this.steady(raw, now), paused, heardAt: now }
  }

  /**
   * The estimate shown: it counts down with the time that passed, and moves to a new measurement
   * only when that differs by more than a quarter, so it neither jumps nor creeps up on noise.
   */
  private steady (raw: number | undefined, now: number): number | undefined {
    if (raw === undefined) return this.shownEta === undefined ? undefined : Math.max(0, this.shownEta - (now - this.shownAt))
    const projected = this.shownEta === undefined ? undefined : Math.max(0, this.shownEta - (now - this.shownAt))
    if (projected === undefined || Math.abs(raw - projected) > 0.25 * Math.max(projected, 1000)) {
      this.shownEta = raw
      this.shownAt = now
      return raw
    }
    return projected
  }
}
