/**
 * The process's wall clock, and the one place it can be set wrong on purpose.
 *
 * Payment deadlines are judged on MySQL's clock only (src/orders/payment-deadline.ts): no process
 * clock may decide whether an order is due. To prove it, tests and the "clock skew" drill run
 * processes whose clock is off (CLOCK_SKEW_MS, refused when NODE_ENV=production). A skew seen only
 * by a clock object the deadline code is handed would prove nothing about code that reads the
 * time on its own (BullMQ stamps delayed jobs with Date.now, leases and logs read it), so the skew
 * is applied to `Date.now` itself, for everything in this thread, as on a host whose clock is off.
 * Timers (setTimeout, performance.now) are monotonic and unaffected, as on such a host.
 *
 * Never used in production; nothing else patches the clock.
 */

const realNow = Date.now.bind(Date)
let skewMs = 0

/** How far this thread's Date.now is set ahead (negative: behind) of the real clock. */
export function clockSkewMs (): number {
  return skewMs
}

/**
 * Sets this thread's wall clock `ms` ahead of the real one (behind when negative); 0 puts it
 * right. Each worker thread has its own `Date` and is skewed on its own (workers/drain-task.ts).
 */
export function skewClock (ms: number): void {
  if (!Number.isSafeInteger(ms)) throw new Error(`clock skew must be an integer of ms, got ${String(ms)}`)
  skewMs = ms
  Date.now = ms === 0 ? realNow : () => realNow() + skewMs
}
