/**
 * Which passwords an account may have (OWASP ASVS 2.1, NIST SP 800-63B): 8 to 128 characters (the
 * route schemas), no composition rules, and not guessable. Guessability is estimated by zxcvbn-ts
 * (pattern matching over common passwords, names, words, dates, keyboard runs and l33t), with the
 * account's own email and this service's words counted as known to an attacker: `password`,
 * `12345678`, `qwertyuiop` and the email itself are refused; a few random words pass.
 *
 * The project's own published passwords (README examples, placeholders, the drill's) are refused
 * outright (ASVS 2.1.7): an attacker reads the README too (issue 30, item 2).
 *
 * Cost (issue 30, item 1): zxcvbn is synchronous and superlinear in length and l33t characters; a
 * 128-character `p@$$w0rd…` took 2.4 s of a core. So only the first SCORED_LENGTH characters are
 * scored, l33t substitutions are capped, and the scoring runs on a thread of its own
 * (password-strength-task.ts), never on the event loop. At most MAX_QUEUED checks wait for that
 * thread; past that a check is refused with OVERLOADED (503), so a crowd of registrations cannot
 * queue unbounded work either.
 */
import Piscina from 'piscina'
import { repoPath } from '../util/paths'
import { DomainError } from '../shared/errors'
import type { StrengthInput, StrengthResult } from './password-strength-task'

/** zxcvbn's scale: 3 is "safely unguessable: moderate protection from offline slow-hash attacks". */
const MIN_SCORE = 3
/** Characters scored. Worst case measured on the issue's inputs: 2.4 s for 128 characters with
 *  zxcvbn's defaults, about 0.14 s with this prefix and cap (README, Security). */
export const SCORED_LENGTH = 64
/** zxcvbn-ts's default is 100; the cost of a l33t-heavy password grows with it. 16 still finds
 *  `p@$$w0rd` and friends. */
const L33T_MAX_SUBSTITUTIONS = 16
/** Checks waiting for the scoring thread beyond the one it runs. */
const MAX_QUEUED = 32

/** Words of this service an attacker would try first. */
const SERVICE_WORDS = ['seckill', 'flash', 'sale', 'flashsale', 'admin', 'operator', 'buyer']

/**
 * Passwords this project has published (README, deployment examples, drills and tests): refused
 * whatever their score, and known to the estimator as words, so small variations score low too.
 */
export const PUBLISHED_PASSWORDS: readonly string[] = [
  'a long operator password',
  'a long buyer password',
  'a long password',
  'violet tram under glass',
  'replace-with-32-or-more-random-characters'
]

/** Case, spacing and separators do not make a published password another one. */
const canonical = (s: string): string => s.normalize('NFKC').toLowerCase().replace(/[\s_.-]+/g, ' ').trim()
const PUBLISHED = new Set(PUBLISHED_PASSWORDS.map(canonical))

export class WeakPasswordError extends DomainError {
  constructor (reason: string) {
    super('WEAK_PASSWORD', `the password is too easy to guess${reason === '' ? '' : `: ${reason}`}; a few unrelated words make a strong one`)
    this.name = 'WeakPasswordError'
  }
}

/** Built on first use: loading the dictionaries takes a moment and memory only login servers need. */
let pool: Piscina<StrengthInput, StrengthResult> | undefined

function scorer (): Piscina<StrengthInput, StrengthResult> {
  pool ??= new Piscina<StrengthInput, StrengthResult>({
    filename: repoPath('dist', 'src', 'identity', 'password-strength-task.js'),
    minThreads: 0,
    maxThreads: 1,
    maxQueue: MAX_QUEUED,
    // The thread (and its dictionaries) goes after a quiet minute; an idle one keeps no process alive.
    idleTimeout: 60_000
  })
  return pool
}

async function estimate (password: string, context: readonly string[]): Promise<StrengthResult> {
  try {
    return await scorer().run({
      password,
      context,
      serviceWords: [...SERVICE_WORDS, ...PUBLISHED_PASSWORDS],
      scoredLength: SCORED_LENGTH,
      l33tMaxSubstitutions: L33T_MAX_SUBSTITUTIONS
    })
  } catch (err) {
    if ((err as Error).message === 'Task queue is at limit') throw new DomainError('OVERLOADED', 'too many password checks at once; try again in a few seconds', 2000)
    throw err
  }
}

/** Throws WeakPasswordError unless `password` is acceptable for the account `email`. */
export async function assertStrongPassword (password: string, email: string): Promise<void> {
  if (PUBLISHED.has(canonical(password))) throw new WeakPasswordError('it is an example published by this project')
  const local = email.split('@')[0] ?? ''
  const { score, warning } = await estimate(password, [email, local, ...local.split(/[._+-]/)])
  if (score < MIN_SCORE) throw new WeakPasswordError(warning?.replace(/\.$/, '').toLowerCase() ?? '')
}

/** Ends the scoring thread (tests, and processes that want to exit at once). */
export async function closePasswordPolicy (): Promise<void> {
  const p = pool
  pool = undefined
  await p?.close()
}
