/**
 * Piscina task: zxcvbn-ts's guessability score of one password, on a thread of its own.
 *
 * zxcvbn scores synchronously, and its cost grows steeply with length and with characters it
 * reads as l33t: a 128-character `p@$$w0rd…` took 2.4 s of one core (issue 30, item 1). Run on
 * the ingress's event loop, ten of those froze every sale. Here the estimator is built once per
 * thread, only a bounded prefix is scored and l33t substitutions are capped (below), so one check
 * costs a bounded amount of this thread's time and none of the event loop's.
 */
import { ZxcvbnFactory } from '@zxcvbn-ts/core'
import * as common from '@zxcvbn-ts/language-common'
import * as en from '@zxcvbn-ts/language-en'

export interface StrengthInput {
  readonly password: string
  /** Words an attacker knows about this account (its email and the parts of it). */
  readonly context: readonly string[]
  /** Words an attacker knows about this service (its name, its published example passwords). */
  readonly serviceWords: readonly string[]
  readonly scoredLength: number
  readonly l33tMaxSubstitutions: number
}

export interface StrengthResult {
  readonly score: number
  readonly warning: string | null
}

let estimator: ZxcvbnFactory | undefined

export default function score (input: StrengthInput): StrengthResult {
  estimator ??= new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...en.dictionary, userInputs: [...input.serviceWords] },
    graphs: common.adjacencyGraphs,
    translations: en.translations,
    // zxcvbn itself scores only this prefix (`maxLength`); a longer password is as strong as its
    // first characters say.
    maxLength: input.scoredLength,
    l33tMaxSubstitutions: input.l33tMaxSubstitutions
  })
  const r = estimator.check(input.password, [...input.context])
  return { score: r.score, warning: r.feedback.warning }
}
