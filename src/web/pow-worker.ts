/**
 * The buyer page's proof-of-work worker (src/web/proof-of-work.ts starts it): solves one
 * challenge off the page's main thread, saying how far it got every 50,000 tries. A file of this
 * origin (Vite emits it), so the pages' policy (script-src 'self') allows it.
 */
import { solvePow } from './pow-solver'
import type { PowTask } from './pow-solver'

/** What the page and this worker say to each other. */
export type PowWorkerMessage =
  | { readonly type: 'progress', readonly tried: number }
  | { readonly type: 'done', readonly counter: number, readonly derivedKey: string }
  | { readonly type: 'failed', readonly reason: string }

// The pages' TypeScript has DOM types only: a worker's scope, as much of it as is used here.
const scope = self as unknown as { postMessage: (m: PowWorkerMessage) => void, addEventListener: (type: 'message', fn: (e: MessageEvent<PowTask>) => void) => void }

scope.addEventListener('message', (e) => {
  try {
    const answer = solvePow(e.data, (tried) => { scope.postMessage({ type: 'progress', tried }); return true })
    scope.postMessage(answer === undefined ? { type: 'failed', reason: 'no counter solves it' } : { type: 'done', ...answer })
  } catch (err) {
    scope.postMessage({ type: 'failed', reason: String(err) })
  }
})
