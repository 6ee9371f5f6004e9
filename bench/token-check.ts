/**
 * `node dist/bench/token-check.js`: CPU per token check, in this process alone (no HTTP): fast-jwt's
 * verifier with and without its cache, and the service's check (src/http/hs256.ts), each on the
 * same distinct tokens (a crowd's first requests), and on tokens seen before (the cache's case).
 * Rounds alternate the checks; medians of BENCH_ROUNDS (5) rounds of BENCH_TOKENS (100,000).
 */
import { randomBytes } from 'node:crypto'
import { createVerifier } from 'fast-jwt'
import { createTokenSigner } from '../src/http/auth'
import { createHs256Verifier } from '../src/http/hs256'
import { envNumber, median } from './results-file'

const N = envNumber('BENCH_TOKENS', 100_000)
const ROUNDS = envNumber('BENCH_ROUNDS', 5)

const secret = randomBytes(24).toString('hex')
const sign = createTokenSigner(secret)
const options = { key: secret, algorithms: ['HS256' as const], requiredClaims: ['sub', 'exp'] }
const uncached = createVerifier(options)
const checks: Record<string, (token: string) => unknown> = {
  'fast-jwt, no cache': uncached,
  'fast-jwt, cache of 100,000': createVerifier({ ...options, cache: 100_000 }),
  'src/http/hs256.ts': createHs256Verifier(secret, uncached)
}

/** CPU microseconds per check over `tokens`. */
function cpuPer (check: (token: string) => unknown, tokens: readonly string[]): number {
  const start = process.cpuUsage()
  for (const token of tokens) check(token)
  const spent = process.cpuUsage(start)
  return (spent.user + spent.system) / tokens.length
}

const figures: Record<string, { fresh: number[], seen: number[] }> = Object.fromEntries(Object.keys(checks).map((k) => [k, { fresh: [], seen: [] }]))
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, check] of Object.entries(checks)) {
    const tokens = Array.from({ length: N }, (_, i) => sign({ id: String(1_000_000 * (round + 1) + i), role: 'user' }))
    const f = figures[name] as { fresh: number[], seen: number[] }
    f.fresh.push(cpuPer(check, tokens))
    f.seen.push(cpuPer(check, tokens))
  }
}
process.stdout.write(`| check | µs per token, first sight | µs per token, seen before |\n|---|---|---|\n${Object.entries(figures).map(([name, f]) =>
  `| ${name} | ${median(f.fresh).toFixed(2)} (${Math.min(...f.fresh).toFixed(2)}–${Math.max(...f.fresh).toFixed(2)}) | ${median(f.seen).toFixed(2)} (${Math.min(...f.seen).toFixed(2)}–${Math.max(...f.seen).toFixed(2)}) |`).join('\n')}\n`)
