/**
 * Another request, or another process, landing between two awaits of the code under test: a proxy
 * of `target` runs `action` once, right before the k-th call (counting from 0) of the methods that
 * `matches` names. Other methods pass through, bound to the target. When the caller makes fewer
 * calls, `settle` runs the action afterwards. The simulation draws k from its seeded source, so
 * the interleaving replays with the seed.
 */
export interface Interception<T> {
  readonly proxy: T
  /** Runs the action now if the caller never reached the k-th call. */
  readonly settle: () => Promise<void>
}

export function beforeCall<T extends object> (target: T, matches: (method: string) => boolean, k: number, action: () => Promise<void>): Interception<T> {
  let calls = 0
  let ran = false
  const run = async (): Promise<void> => {
    if (ran) return
    ran = true
    await action()
  }
  const proxy = new Proxy(target, {
    get (t, prop, receiver) {
      const value: unknown = Reflect.get(t, prop, receiver)
      if (typeof value !== 'function') return value
      const method = value as (...a: unknown[]) => unknown
      if (typeof prop !== 'string' || !matches(prop)) return method.bind(t)
      return async (...args: unknown[]) => {
        if (calls++ === k) await run()
        return await method.apply(t, args)
      }
    }
  })
  return { proxy, settle: run }
}
