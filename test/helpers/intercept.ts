/**
 * Another request, or another process, landing between two awaits of the code under test: a proxy
 * of `target` runs `action` once, right before the k-th call (counting from 0) of the methods that
 * `matches` names. Other methods pass through, bound to the target. When the caller makes fewer
 * calls, `settle` runs the action afterwards. The simulation draws k from its seeded source, so
 * the interleaving replays with the seed.
 */
/**
 * How an action that lands inside another caller runs. By default it runs to its end before the
 * caller goes on. With a probe (`landInsideWith`), it runs until it ends or the probe finds it
 * waiting on a lock -- a MySQL row the caller holds in its open transaction, as a rebuild under the
 * event's lock does: then the caller goes on, and the action ends once the caller lets the lock
 * go (`done`). Which of the two happens depends on the code, not on timing.
 */
/** The transactions of the test's MySQL that wait on a lock now (their ids). */
let lockWaits: (() => Promise<string[]>) | undefined

export function landInsideWith (waiting: (() => Promise<string[]>) | undefined): void {
  lockWaits = waiting
}

export interface Landing {
  /** Settles when the action ended or waits on a lock. */
  readonly until: Promise<void>
  readonly done: Promise<void>
}

export function landInside (action: () => Promise<void>): Landing {
  const waiting = lockWaits
  if (waiting === undefined) {
    const done = action()
    return { done, until: done }
  }
  let started: (p: Promise<void>) => void = () => {}
  const done = new Promise<Promise<void>>((resolve) => { started = resolve }).then(async (p) => { await p })
  done.catch(() => undefined)
  const until = (async () => {
    // Its own wait is a new one (an action landed earlier may wait already; MySQL's view of the
    // waits may lag by a tenth of a second, so a wait that just ended may still be listed).
    const before = new Set(await waiting())
    const p = action()
    started(p)
    let ended = false
    p.then(() => { ended = true }, () => { ended = true })
    for (let i = 0; !ended; i++) {
      if (i > 0 && (await waiting()).some((id) => !before.has(id))) return
      await Promise.race([p.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, i === 0 ? 0 : 5))])
    }
    await p
  })()
  return { done, until }
}

export interface Interception<T> {
  readonly proxy: T
  /** Runs the action now if the caller never reached the k-th call. */
  readonly settle: () => Promise<void>
}

export function beforeCall<T extends object> (target: T, matches: (method: string) => boolean, k: number, action: () => Promise<void>): Interception<T> {
  let calls = 0
  let landed: Landing | undefined
  const run = async (): Promise<void> => {
    landed ??= landInside(action)
    await landed.until
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
  return { proxy, settle: async () => { await run(); await landed?.done } }
}

/**
 * A proxy that passes every call through until armed: `arm(k, action)` runs `action` once, right
 * before the k-th call (from 0, counted from the arming) of the methods `matches` names (as
 * `beforeCall` does, `landInside` included). For objects built once with their dependencies (a
 * process's caches): the simulation hands them the proxy and arms it for the one step it wants
 * another actor to land inside.
 */
export interface Armable<T> {
  readonly proxy: T
  arm: (k: number, action: () => Promise<void>) => void
  /** Runs the armed action now if the caller never reached the k-th call; waits for its end. */
  settle: () => Promise<void>
  /** Disarms without running the action; waits for the end of one that ran. */
  disarm: () => Promise<void>
}

export function armable<T extends object> (target: T, matches: (method: string) => boolean): Armable<T> {
  let armed: { k: number, calls: number, action: () => Promise<void> } | undefined
  const landed: Landing[] = []
  const fire = async (): Promise<void> => {
    const a = armed
    armed = undefined
    if (a === undefined) return
    const l = landInside(a.action)
    landed.push(l)
    await l.until
  }
  const proxy = new Proxy(target, {
    get (t, prop, receiver) {
      const value: unknown = Reflect.get(t, prop, receiver)
      if (typeof value !== 'function') return value
      const method = value as (...a: unknown[]) => unknown
      if (typeof prop !== 'string' || !matches(prop)) return method.bind(t)
      return async (...args: unknown[]) => {
        if (armed !== undefined && armed.calls++ === armed.k) await fire()
        return await method.apply(t, args)
      }
    }
  })
  const ended = async (): Promise<void> => { for (const l of landed.splice(0)) await l.done }
  return {
    proxy,
    arm: (k, action) => { armed = { k, calls: 0, action } },
    settle: async () => { await fire(); await ended() },
    disarm: async () => { armed = undefined; await ended() }
  }
}

/**
 * The same client under another identity, for an actor that stands for another process: code that
 * keeps one thing per process by client (a rebuild in flight per event) sees two processes, while
 * every command still goes down the one connection, in the order the actors send them.
 */
export function asAnotherProcess<T extends object> (target: T): T {
  return armable(target, () => false).proxy
}

/** A promise and its resolver: a step of one actor held until the test lets it go. */
export function gate (): { wait: Promise<void>, open: () => void } {
  let open: () => void = () => undefined
  const wait = new Promise<void>((resolve) => { open = resolve })
  return { wait, open }
}
