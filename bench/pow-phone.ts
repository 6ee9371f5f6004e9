/**
 * `node dist/bench/pow-phone.js`: what a proof of work costs a phone's browser (issue 34). The
 * buyer page's own solver (src/web/pow-solver.ts, its TypeScript stripped) runs in headless
 * Chromium with the CPU slowed by DevTools (`Emulation.setCPUThrottlingRate`, rate 4 and 6: a
 * mid-range and a low-end phone, as Lighthouse models them), on challenges minted as the service
 * mints them (a random counter from 1 to the difficulty). Solved on the page's main thread, where
 * the throttle surely applies, and in a Web Worker as the page does, to see whether it applies
 * there too. Each setting: the median (min-max) of BENCH_SOLVES solves, and the tries per second.
 *
 * Options (environment): BENCH_SOLVES (15), BENCH_DIFFICULTIES (comma-separated; 100000,300000,
 * 1000000), BENCH_RATES (1,4,6).
 */
import { readFileSync } from 'node:fs'
import ts from 'typescript'
import { chromium } from 'playwright-core'
import type { Page } from 'playwright-core'
import { createChallenge } from '../src/sale'
import { repoPath } from '../src/util/paths'
import { envNumber, median } from './results-file'

const SOLVES = envNumber('BENCH_SOLVES', 15)
const DIFFICULTIES = (process.env.BENCH_DIFFICULTIES ?? '100000,300000,1000000').split(',').map(Number)
const RATES = (process.env.BENCH_RATES ?? '1,4,6').split(',').map(Number)

interface Solve { readonly ms: number, readonly counter: number }

/** The page's solver as a plain script defining `solvePow` on `globalThis`. */
function solverScript (): string {
  const source = readFileSync(repoPath('src', 'web', 'pow-solver.ts'), 'utf8')
  const js = ts.transpileModule(source, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS } }).outputText
  return `(() => { const exports = {}; ${js}; globalThis.solvePow = exports.solvePow })();`
}

async function solveOn (page: Page, where: 'main thread' | 'worker', task: { salt: string, nonce: string, keyPrefix: string, maxNumber: number }): Promise<Solve> {
  return await page.evaluate(async ([where, task]) => {
    const g = globalThis as unknown as { solvePow: (t: unknown, p: () => boolean) => { counter: number } | undefined, solverSource: string }
    if (where === 'main thread') {
      const t0 = performance.now()
      const r = g.solvePow(task, () => true)
      return { ms: performance.now() - t0, counter: r?.counter ?? -1 }
    }
    // Node's types know no Worker of the browser's kind: as much of it as is used here.
    const BrowserWorker = (globalThis as unknown as { Worker: new (url: string) => { onmessage: ((e: { data: unknown }) => void) | null, postMessage: (m: unknown) => void, terminate: () => void } }).Worker
    const worker = new BrowserWorker(URL.createObjectURL(new Blob([g.solverSource + '; onmessage = (e) => { const t0 = performance.now(); const r = solvePow(e.data, () => true); postMessage({ ms: performance.now() - t0, counter: r ? r.counter : -1 }) }'], { type: 'text/javascript' })))
    const answer = await new Promise<{ ms: number, counter: number }>((resolve) => {
      worker.onmessage = (e) => { resolve(e.data as { ms: number, counter: number }) }
      worker.postMessage(task)
    })
    worker.terminate()
    return answer
  }, [where, task] as const)
}

async function main (): Promise<void> {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless', '--disable-gpu', '--no-first-run'] })
  try {
    const page = await (await browser.newContext()).newPage()
    const script = solverScript()
    await page.setContent('<!doctype html><title>proof-of-work bench</title>')
    await page.addScriptTag({ content: script })
    await page.evaluate((s) => { (globalThis as unknown as { solverSource: string }).solverSource = s }, script)
    // Warm-up (JIT), unthrottled and unmeasured, on both threads.
    for (const where of ['main thread', 'worker'] as const) {
      const c = createChallenge('bench key', 1, '1', 100_000, Date.now() + 60_000)
      await solveOn(page, where, { salt: c.parameters.salt, nonce: c.parameters.nonce, keyPrefix: c.parameters.keyPrefix, maxNumber: 100_000 })
    }
    const cdp = await page.context().newCDPSession(page)
    const rows: string[] = []
    for (const rate of RATES) {
      await cdp.send('Emulation.setCPUThrottlingRate', { rate })
      for (const difficulty of DIFFICULTIES) {
        for (const where of ['main thread', 'worker'] as const) {
          const solves: Solve[] = []
          for (let i = 0; i < SOLVES; i++) {
            const c = createChallenge('bench key', 1, '1', difficulty, Date.now() + 60_000)
            const s = await solveOn(page, where, { salt: c.parameters.salt, nonce: c.parameters.nonce, keyPrefix: c.parameters.keyPrefix, maxNumber: difficulty })
            if (s.counter < 0) throw new Error('a challenge was not solved')
            solves.push(s)
          }
          const ms = solves.map((s) => s.ms)
          const perSecond = solves.map((s) => s.counter / (s.ms / 1000)).filter((x) => Number.isFinite(x))
          const row = `| ${rate}× | ${difficulty.toLocaleString('en')} | ${where} | ${median(ms).toFixed(0)} (${Math.min(...ms).toFixed(0)}–${Math.max(...ms).toFixed(0)}) | ${(median(perSecond) / 1e6).toFixed(2)} M |`
          rows.push(row)
          process.stdout.write(row + '\n')
        }
      }
    }
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 1 })
    process.stdout.write(['', `${SOLVES} solves per row; median (min–max) ms; tries per second: median of counter / time.`, '',
      '| CPU throttle | difficulty (pow_max_number) | where | solve ms | tries/s |', '|---|---|---|---|---|', ...rows].join('\n') + '\n')
  } finally {
    await browser.close()
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench pow-phone failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
