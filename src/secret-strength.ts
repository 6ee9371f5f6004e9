/**
 * Is a configured secret one an attacker could know or guess? Production refuses a secret that is
 * a published placeholder (the deployment examples', in any case or separator) or that has too
 * little variety to be random (ASVS 2.10.4, 6.4.1: secrets not default, not guessable). Pure
 * functions of a string: src/config.ts reads the environment and calls these.
 */
import { deflateRawSync } from 'node:zlib'

/** Least estimated entropy of a secret: 32 random hex characters (128 bits) estimate 90–125. */
export const MIN_SECRET_BITS = 90

/** Placeholders this project (or the usual examples) publish; compared after `canonical`. */
const PLACEHOLDERS = [
  'replace-with-32-or-more-random-characters',
  'password', 'changeme', 'change-me', 'secret', 'your-secret', 'your-secret-key', 'jwt-secret',
  'example', 'placeholder', 'default', 'admin', 'root', 'test', 'letmein'
]

/** Words no randomly made secret contains, as a placeholder's do. */
const PLACEHOLDER_WORDS = ['replacewith', 'changeme', 'placeholder', 'yoursecret', 'example', 'randomcharacters']

const canonical = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '')
const CANONICAL_PLACEHOLDERS = new Set(PLACEHOLDERS.map(canonical))

/**
 * Estimated entropy in bits: the lower of the characters' Shannon entropy × length (few distinct
 * characters) and the size deflate leaves (a repeated pattern), so `a` × 40 and `abcdefgh` × 8
 * both count for little. A secret that is a shorter one repeated (whole or in part) counts as
 * that shorter one: deflate's framing hides a pattern repeated only twice, so
 * `abcdefgh12345678` × 2 estimated 120 bits.
 */
export function estimatedBits (secret: string): number {
  if (secret === '') return 0
  const chars = [...secret]
  const unit = period(chars)
  if (unit < chars.length) return estimatedBits(chars.slice(0, unit).join(''))
  const counts = new Map<string, number>()
  for (const c of chars) counts.set(c, (counts.get(c) ?? 0) + 1)
  const length = chars.length
  let perChar = 0
  for (const n of counts.values()) {
    const p = n / length
    perChar -= p * Math.log2(p)
  }
  // Deflate's own framing is about three bytes: not information.
  const compressed = Math.max(0, deflateRawSync(Buffer.from(secret), { level: 9 }).length - 3) * 8
  return Math.min(perChar * length, compressed)
}

/** The shortest p such that every character equals the one p before it (the length if none). */
function period (chars: readonly string[]): number {
  for (let p = 1; p < chars.length; p++) {
    let repeats = true
    for (let i = p; i < chars.length && repeats; i++) repeats = chars[i] === chars[i - p]
    if (repeats) return p
  }
  return chars.length
}

/** What is wrong with `secret` as a production secret, or an empty list. */
export function secretProblems (name: string, secret: string): string[] {
  const problems: string[] = []
  const c = canonical(secret)
  if (CANONICAL_PLACEHOLDERS.has(c) || PLACEHOLDER_WORDS.some((w) => c.includes(w))) {
    problems.push(`${name}: a published placeholder, not a secret; make one with \`openssl rand -base64 32\``)
  } else {
    const bits = estimatedBits(secret)
    if (bits < MIN_SECRET_BITS) {
      problems.push(`${name}: too little variety to be random (about ${Math.floor(bits)} bits, at least ${MIN_SECRET_BITS} needed); make one with \`openssl rand -base64 32\``)
    }
  }
  return problems
}

/** The password inside a connection URL (`redis://:pw@host`), or undefined. */
export function urlPassword (url: string): string | undefined {
  try {
    const pw = new URL(url).password
    return pw === '' ? undefined : decodeURIComponent(pw)
  } catch {
    return undefined
  }
}
