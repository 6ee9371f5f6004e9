/** bench/RESULTS.md: each bench replaces its own generated section; the analysis around it is kept. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { repoPath } from '../src/util/paths'

/** Replaces the section between `<!-- name:start -->` and `<!-- name:end -->` (appended when missing). */
export function writeSection (name: string, command: string, text: string): void {
  const start = `<!-- ${name}:start -->`
  const end = `<!-- ${name}:end -->`
  const file = repoPath('bench', 'RESULTS.md')
  let doc = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n'
  if (!doc.includes(start) || !doc.includes(end)) doc += `\n${start}\n${end}\n`
  const section = `${start}\nLatest \`${command}\` (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC):\n\n${text}\n${end}`
  writeFileSync(file, doc.slice(0, doc.indexOf(start)) + section + doc.slice(doc.indexOf(end) + end.length))
}

export function median (xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[m] as number : ((s[m - 1] as number) + (s[m] as number)) / 2
}

/** "median (min–max)". */
export function stat (xs: readonly number[], digits = 0): string {
  if (xs.length === 0) return 'n/a'
  return `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`
}

/** A numeric setting of a bench from the environment. */
export function envNumber (name: string, fallback: number): number {
  const raw = process.env[name]
  return raw === undefined || raw === '' ? fallback : Number(raw)
}

/**
 * Settings for the worker under test from BENCH_WORKER_ENV ("NAME=value,NAME=value"), to compare a
 * worker setting (WORKER_THREADS, DRAIN_PIPELINE, ...) without editing a bench.
 */
export function workerEnv (): Record<string, string> {
  const raw = process.env.BENCH_WORKER_ENV ?? ''
  return Object.fromEntries(raw.split(',').filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')).trim(), kv.slice(kv.indexOf('=') + 1).trim()]))
}

/** Prints a bench's report, writes its section of bench/RESULTS.md (unless BENCH_WRITE=0) and exits 0. */
export function finishBench (name: string, command: string, text: string): never {
  process.stdout.write(`\n${text}\n`)
  if (process.env.BENCH_WRITE !== '0') writeSection(name, command, text)
  process.exit(0)
}

/** Runs a bench; a failure is printed and exits 1. */
export function runBench (main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    process.exit(1)
  })
}
