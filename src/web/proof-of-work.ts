/**
 * The buy page's proof of work, for a sale that asks for one (`proof_of_work`): the page fetches
 * a challenge for its buyer (GET /events/:id/challenge, from a few minutes before the start) and
 * solves it in a Web Worker (pow-worker.ts) while the buyer waits, so Buy is ready at the start.
 * The proof goes with the buy (X-Proof-Of-Work) and is spent by it. One that expires before the
 * buyer presses Buy, or that the service refuses, is solved again (the buy is then sent once
 * more by itself). Why a worker of the page's own and not the `altcha` widget: see
 * src/sale/proof-of-work.ts.
 */
import { api, isApiError } from './api'
import type { Session } from './api'
import type { PowChallenge } from '../shapes/api'
import type { PowWorkerMessage } from './pow-worker'

export type PowState =
  | { readonly kind: 'idle' }
  /** Too early for a challenge: asked again in a while. */
  | { readonly kind: 'waiting' }
  | { readonly kind: 'working', readonly fraction: number }
  /** `renewAt`: ms on the service's clock, shortly before the proof expires. */
  | { readonly kind: 'ready', readonly proof: string, readonly renewAt: number }
  | { readonly kind: 'failed' }

/** A proof this close to its expiry (or a quarter of its life, if shorter) is solved again before it is used. */
const MARGIN_MS = 10_000
/** Too early for a challenge: asked again after this long. */
const EARLY_RETRY_MS = 30_000

export class ProofOfWork {
  state: PowState = { kind: 'idle' }
  private worker: Worker | undefined
  private run = 0
  private waiters: Array<{ resolve: (proof: string) => void, reject: (err: Error) => void }> = []

  constructor (private readonly eventId: number, private readonly maxNumber: number,
    private readonly session: () => Session | undefined, private readonly onChange: () => void, private readonly alive: () => boolean,
    /** The service's clock (ms). */
    private readonly now: () => number) {}

  /** Starts solving unless a solve is under way, the page waits to ask, or a proof is at hand for a while yet. */
  ensure (now: number): void {
    const s = this.state
    if (s.kind === 'working' || s.kind === 'waiting' || s.kind === 'failed') return
    if (s.kind === 'ready' && now < s.renewAt) return
    void this.solve()
  }

  /** The proof to send now, when one is at hand and not about to expire. */
  proof (now: number): string | undefined {
    const s = this.state
    return s.kind === 'ready' && now < s.renewAt ? s.proof : undefined
  }

  /** A new proof (the last one was spent or refused): solved now, resolved when ready. */
  async fresh (): Promise<string> {
    const ready = new Promise<string>((resolve, reject) => { this.waiters.push({ resolve, reject }) })
    void this.solve()
    return await ready
  }

  /** The buy spent the proof (admitted, or answered by the gate): it is not sent again. */
  spent (): void {
    this.stop()
    this.set({ kind: 'idle' })
  }

  stop (): void {
    this.run++
    this.worker?.terminate()
    this.worker = undefined
  }

  private set (s: PowState): void {
    this.state = s
    if (s.kind === 'ready') for (const w of this.waiters.splice(0)) w.resolve(s.proof)
    if (s.kind === 'failed') for (const w of this.waiters.splice(0)) w.reject(new Error('proof of work failed'))
    this.onChange()
  }

  private async solve (): Promise<void> {
    this.stop()
    const mine = this.run
    const current = (): boolean => mine === this.run && this.alive()
    this.set({ kind: 'working', fraction: 0 })
    let challenge: PowChallenge
    try {
      challenge = await api<PowChallenge>('GET', `/events/${this.eventId}/challenge`, { session: this.session() })
    } catch (err) {
      if (!current()) return
      if (isApiError(err) && err.code === 'POW_NOT_AVAILABLE') {
        this.set({ kind: 'waiting' })
        setTimeout(() => { if (current()) void this.solve() }, EARLY_RETRY_MS)
        return
      }
      this.set({ kind: 'failed' })
      return
    }
    if (!current()) return
    const worker = new Worker(new URL('./pow-worker.ts', import.meta.url), { type: 'module' })
    this.worker = worker
    worker.addEventListener('message', (e: MessageEvent<PowWorkerMessage>) => {
      // A view left, or a newer solve: this one stops.
      if (!current()) { worker.terminate(); return }
      const m = e.data
      if (m.type === 'progress') {
        this.set({ kind: 'working', fraction: Math.min(0.99, m.tried / Math.max(1, this.maxNumber)) })
        return
      }
      worker.terminate()
      this.worker = undefined
      if (m.type === 'failed') {
        this.set({ kind: 'failed' })
        return
      }
      const proof = btoa(JSON.stringify({ challenge, solution: { counter: m.counter, derivedKey: m.derivedKey } }))
      const expiresAt = challenge.parameters.expiresAt * 1000
      this.set({ kind: 'ready', proof, renewAt: expiresAt - Math.min(MARGIN_MS, (expiresAt - this.now()) / 4) })
    })
    worker.addEventListener('error', () => { if (current()) this.set({ kind: 'failed' }) })
    const p = challenge.parameters
    // The search goes on past the sale's difficulty as the page read it (an operator may have
    // changed it since), to the last counter the format has; the progress is measured against it.
    worker.postMessage({ salt: p.salt, nonce: p.nonce, keyPrefix: p.keyPrefix, maxNumber: 0xffffffff })
  }
}
