/**
 * The payment reconciler: a webhook can be lost (the provider gave up, the local provider's
 * process died, a drill dropped it), so every worker process asks the provider about payments it
 * has said nothing of for PAYMENT_RECONCILE_AFTER_MS (by MySQL's clock), and feeds what it hears
 * through the same path as a webhook (payment-flow.ts `applyEvent`, under an event id of its own,
 * so two reconcilers asking at once act once). It also asks again for refunds the provider has
 * not confirmed, with their original idempotency keys. Every step is a compare-and-set, so any
 * number of processes may run it.
 */
import type { Logger } from 'pino'
import { applyEvent } from './payment-flow'
import type { PaymentDeps } from './deps'
import { executeRefund } from './refunds'

const PER_LOOK = 100

export class PaymentReconciler {
  private stopped = false
  private loop: Promise<void> | undefined
  private sleeping: { timer: NodeJS.Timeout, wake: () => void } | undefined

  constructor (private readonly deps: PaymentDeps, private readonly opts: { afterMs: number, everyMs: number }, private readonly log: Logger) {}

  start (): void {
    this.loop ??= this.run()
  }

  private async run (): Promise<void> {
    while (!this.stopped) {
      try {
        await this.reconcileOnce()
      } catch (err) {
        this.log.warn({ err }, 'payment reconciler: a look failed; trying again')
      }
      await new Promise<void>((resolve) => { this.sleeping = { timer: setTimeout(resolve, this.opts.everyMs), wake: resolve } })
      this.sleeping = undefined
    }
  }

  /** One look: stale payments asked about, unconfirmed refunds asked again. Returns what it did. */
  async reconcileOnce (): Promise<{ asked: number, settled: number, refundsRetried: number }> {
    const { payments, provider } = this.deps
    const stale = await payments.stalePending(this.opts.afterMs, PER_LOOK)
    let settled = 0
    await Promise.all(stale.map(async (p) => {
      if (this.stopped || p.ref === null) return
      let state
      try {
        state = await provider.fetchPayment(p.ref)
      } catch (err) {
        this.log.warn({ paymentId: p.id, err: { message: (err as Error).message } }, 'payment reconciler: the provider did not answer')
        return
      }
      if (state === 'succeeded') {
        const outcome = await applyEvent(this.deps, { kind: 'payment_succeeded', eventId: `reconcile:${p.id}:succeeded`, ref: p.ref, paymentId: p.id })
        if (outcome === 'paid' || outcome === 'late_refund') settled++
      } else if (state === 'failed' && p.status === 'pending') {
        await applyEvent(this.deps, { kind: 'payment_failed', eventId: `reconcile:${p.id}:failed`, ref: p.ref, paymentId: p.id })
      }
    }))
    // Still pending (or asked about just now): asked again after another interval, not every look.
    await payments.touch(stale.map((p) => p.id))
    const refunds = await payments.staleRefunds(this.opts.afterMs, PER_LOOK)
    await payments.touchRefunds(refunds.map((r) => r.id))
    // At once, as the payments above: a slow provider answer must not hold the others up.
    await Promise.all(refunds.map(async (r) => { if (!this.stopped) await executeRefund(this.deps, r) }))
    if (stale.length > 0 || refunds.length > 0) this.log.info({ asked: stale.length, settled, refunds: refunds.length }, 'payment reconciler: asked the provider')
    return { asked: stale.length, settled, refundsRetried: refunds.length }
  }

  async close (): Promise<void> {
    this.stopped = true
    if (this.sleeping !== undefined) {
      clearTimeout(this.sleeping.timer)
      this.sleeping.wake()
    }
    await this.loop
  }
}
