/**
 * Which passwords an account may have (OWASP ASVS 2.1, NIST SP 800-63B): 8 to 128 characters (the
 * route schemas), no composition rules, and not guessable. Guessability is estimated by zxcvbn-ts
 * (pattern matching over common passwords, names, words, dates, keyboard runs and l33t), with the
 * account's own email and this service's words counted as known to an attacker: `password`,
 * `12345678`, `qwertyuiop` and the email itself are refused; a few random words pass.
 */
import { ZxcvbnFactory } from '@zxcvbn-ts/core'
import * as common from '@zxcvbn-ts/language-common'
import * as en from '@zxcvbn-ts/language-en'
import { DomainError } from './errors'

/** zxcvbn's scale: 3 is "safely unguessable: moderate protection from offline slow-hash attacks". */
const MIN_SCORE = 3
/** Words of this service an attacker would try first. */
const SERVICE_WORDS = ['seckill', 'flash', 'sale', 'flashsale', 'admin', 'operator', 'buyer']

/** Built on first use: loading the dictionaries takes a moment and memory only login servers need. */
let estimator: ZxcvbnFactory | undefined

function estimate (password: string, context: readonly string[]): { score: number, warning: string | null } {
  estimator ??= new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...en.dictionary, userInputs: SERVICE_WORDS },
    graphs: common.adjacencyGraphs,
    translations: en.translations
  })
  const r = estimator.check(password, [...context])
  return { score: r.score, warning: r.feedback.warning }
}

export class WeakPasswordError extends DomainError {
  constructor (reason: string) {
    super('WEAK_PASSWORD', `the password is too easy to guess${reason === '' ? '' : `: ${reason}`}; a few unrelated words make a strong one`)
    this.name = 'WeakPasswordError'
  }
}

/** Throws WeakPasswordError unless `password` is acceptable for the account `email`. */
export function assertStrongPassword (password: string, email: string): void {
  const local = email.split('@')[0] ?? ''
  const { score, warning } = estimate(password, [email, local, ...local.split(/[._+-]/)])
  if (score < MIN_SCORE) throw new WeakPasswordError(warning?.replace(/\.$/, '').toLowerCase() ?? '')
}
