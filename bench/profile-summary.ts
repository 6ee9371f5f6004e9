/**
 * Where a path's CPU goes: the top self-time functions of a V8 CPU profile (`--cpu-prof`), within
 * the time windows a bench recorded for each metered run (`BENCH_PROFILE=1` writes them beside the
 * profiles, as `windows-<bench pid>.json`). V8 stamps samples with the monotonic clock that
 * `process.hrtime` reads, so a window taken in the bench selects the samples of the same stretch
 * in every child's profile.
 *
 *   node dist/bench/profile-summary.js bench/.runs/<ingress>.cpuprofile bench/.runs/windows-<pid>.json [top]
 *
 * Prints a Markdown table per window name (rounds summed): share of the window's samples, self
 * milliseconds, function and where it is (file:line, node_modules shortened to the package).
 */
import { readFileSync } from 'node:fs'

interface CallFrame { functionName: string, url: string, lineNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame }
interface Profile { nodes: ProfileNode[], startTime: number, samples: number[], timeDeltas: number[] }
export interface Window { readonly name: string, readonly startUs: number, readonly endUs: number }

/** A window of the monotonic clock, in microseconds (the clock of V8's profile timestamps). */
export function nowUs (): number {
  return Number(process.hrtime.bigint() / 1000n)
}

/** What a frame belongs to: its package, node's internals, the product's area, or the native name. */
function owner (frame: CallFrame): string {
  const url = frame.url.replace(/^file:\/\//, '')
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (pkg !== null) return pkg[1] ?? url
  if (url.startsWith('node:')) return 'node (' + url.slice(5).replace(/^internal\//, '').split('/')[0] + ')'
  const area = /dist\/((?:src|bench|workers)\/[^/]+)/.exec(url)
  if (area !== null) return (area[1] ?? url).replace(/\.js$/, '')
  return url === '' ? frame.functionName : url
}

function where (frame: CallFrame): string {
  const url = frame.url.replace(/^file:\/\//, '')
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(url)
  const file = pkg !== null ? `${pkg[1] ?? ''}/${pkg[2] ?? ''}` : url.replace(/^.*\/dist\//, '')
  return file === '' ? '(native)' : `${file}:${frame.lineNumber + 1}`
}

export function summarise (profile: Profile, windows: readonly Window[], top: number): string {
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]))
  const names = [...new Set(windows.map((w) => w.name))]
  const out: string[] = []
  for (const name of names) {
    const ws = windows.filter((w) => w.name === name)
    const self = new Map<string, number>()
    const byOwner = new Map<string, number>()
    let total = 0
    let t = profile.startTime
    for (let i = 0; i < profile.samples.length; i++) {
      const dt = profile.timeDeltas[i] ?? 0
      t += dt
      if (!ws.some((w) => t >= w.startUs && t < w.endUs)) continue
      const f = frames.get(profile.samples[i] as number)
      if (f === undefined) continue
      const key = `${f.functionName === '' ? '(anonymous)' : f.functionName} | ${where(f)}`
      self.set(key, (self.get(key) ?? 0) + dt)
      byOwner.set(owner(f), (byOwner.get(owner(f)) ?? 0) + dt)
      total += dt
    }
    out.push(`#### ${name} (${(total / 1000).toFixed(0)} ms sampled)`, '', '| self % | self ms | function | where |', '|---|---|---|---|')
    for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      const [fn, at] = key.split(' | ')
      out.push(`| ${((100 * us) / Math.max(1, total)).toFixed(1)} | ${(us / 1000).toFixed(0)} | \`${fn ?? ''}\` | ${at ?? ''} |`)
    }
    out.push('', `By owner: ${[...byOwner].sort((a, b) => b[1] - a[1]).slice(0, top).map(([o, us]) => `${o} ${((100 * us) / Math.max(1, total)).toFixed(1)} %`).join(', ')}.`, '')
  }
  return out.join('\n')
}

if (require.main === module) {
  const [profileFile, windowsFile, top] = process.argv.slice(2)
  if (profileFile === undefined || windowsFile === undefined) {
    process.stderr.write('usage: profile-summary <file.cpuprofile> <windows.json> [top]\n')
    process.exit(2)
  }
  const profile = JSON.parse(readFileSync(profileFile, 'utf8')) as Profile
  const windows = JSON.parse(readFileSync(windowsFile, 'utf8')) as Window[]
  process.stdout.write(summarise(profile, windows, Number(top ?? 15)) + '\n')
}
