/**
 * The buyer page's wait estimate (src/web/line-watch.ts), fed a line as the page sees it: a poll
 * every 2 s of a place that drops in batches. The page code is compiled for the browser, so this
 * test loads it by stripping its types (TypeScript's transpileModule; its one import is a type).
 *
 * A bursty drain (10 tickets per batch about every 1.4 s) against 2 s polls is what made the shown
 * estimate fall from 25 s to 10 s within 2 s (issue 32, item 7): one poll interval held one batch,
 * the next two, and the page's pace followed each.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import ts from 'typescript'
import { repoPath } from '../../src/util/paths'

interface LineState { readonly etaMs: number | undefined, readonly paused: boolean }
interface Watch { see: (ticket: { status: string, position?: number, eta_ms?: number }, now: number) => LineState }

function loadLineWatch (): new () => Watch {
  const source = readFileSync(repoPath('src', 'web', 'line-watch.ts'), 'utf8')
  const js = ts.transpileModule(source, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS } }).outputText
  const exports: Record<string, unknown> = {}
  // eslint-disable-next-line no-new-func -- the page's module, types stripped, run as CommonJS
  new Function('exports', 'require', js)(exports, (name: string) => { throw new Error(`line-watch.ts requires ${name}`) })
  return exports.LineWatch as new () => Watch
}
const LineWatch = loadLineWatch()

interface Line {
  /** Place at t = 0. */
  readonly place: number
  /** Tickets per batch, and ms between batches. */
  readonly batch: number
  readonly everyMs: number
  /** The service's estimate (ms per place, from the drain's rate), or none. */
  readonly serviceMsPerPlace?: number
  readonly pollMs: number
}

/** The estimates a page shows, poll by poll, until the buyer's turn. */
function watch (line: Line): Array<{ at: number, eta: number, truth: number }> {
  const w = new LineWatch()
  const shown: Array<{ at: number, eta: number, truth: number }> = []
  const turnAt = Math.ceil(line.place / line.batch) * line.everyMs
  for (let at = 0; at < turnAt; at += line.pollMs) {
    const place = line.place - Math.floor(at / line.everyMs) * line.batch
    if (place <= 0) break
    const s = w.see({ status: 'queued', position: place, ...(line.serviceMsPerPlace !== undefined ? { eta_ms: place * line.serviceMsPerPlace } : {}) }, at)
    if (s.etaMs !== undefined) shown.push({ at, eta: s.etaMs, truth: turnAt - at })
  }
  return shown
}

/** Readings where the estimate rose, or fell by more than the time that passed plus a quarter. */
function jumps (shown: Array<{ at: number, eta: number }>): string[] {
  const out: string[] = []
  for (let i = 1; i < shown.length; i++) {
    const a = shown[i - 1] as { at: number, eta: number }
    const b = shown[i] as { at: number, eta: number }
    const elapsed = b.at - a.at
    if (b.eta > a.eta + 1) out.push(`rose ${Math.round(a.eta)} -> ${Math.round(b.eta)} ms at ${b.at}`)
    if (a.eta - b.eta > elapsed + 0.25 * Math.max(a.eta - elapsed, 1000)) out.push(`fell ${Math.round(a.eta)} -> ${Math.round(b.eta)} ms in ${elapsed} ms at ${b.at}`)
  }
  return out
}

const LINES: Array<[string, Line]> = [
  ['an even line, no service estimate', { place: 120, batch: 2, everyMs: 280, pollMs: 2000 }],
  ['a bursty drain (10 per batch every 1.4 s), no service estimate', { place: 120, batch: 10, everyMs: 1400, pollMs: 2000 }],
  ['a bursty drain with a service estimate half the truth', { place: 120, batch: 10, everyMs: 1400, pollMs: 2000, serviceMsPerPlace: 70 }],
  ['a bursty drain with a service estimate twice the truth', { place: 120, batch: 10, everyMs: 1400, pollMs: 2000, serviceMsPerPlace: 280 }],
  ['big batches (50 every 5 s) against 2 s polls', { place: 400, batch: 50, everyMs: 5000, pollMs: 2000 }]
]

for (const [name, line] of LINES) {
  t.test(`${name}: the estimate neither rises nor jumps, and ends near the truth`, async (t) => {
    const shown = watch(line)
    t.ok(shown.length >= 5, `${shown.length} estimates shown`)
    t.same(jumps(shown), [], 'no rise, no fall beyond the time passed plus a quarter')
    // Halfway down the line the page has measured it: within half of the true wait.
    const mid = shown[Math.floor(shown.length / 2)] as { eta: number, truth: number }
    t.ok(Math.abs(mid.eta - mid.truth) <= 0.5 * mid.truth, `halfway: shown ${Math.round(mid.eta)} ms, truth ${mid.truth} ms`)
  })
}

t.test('a line that stops: the estimate stops counting down below zero and the page says paused', async (t) => {
  const w = new LineWatch()
  let s = w.see({ status: 'queued', position: 50 }, 0)
  s = w.see({ status: 'queued', position: 40 }, 2000)
  s = w.see({ status: 'queued', position: 30 }, 4000)
  for (let at = 6000; at <= 20_000; at += 2000) s = w.see({ status: 'queued', position: 30 }, at)
  t.ok(s.paused, 'paused')
  t.ok(s.etaMs !== undefined && s.etaMs >= 0, `estimate ${String(s.etaMs)} ms, not negative`)
})
