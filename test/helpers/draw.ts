/**
 * What the draw tests share: the README's ranking recomputed, the README's draw-check script run on
 * a GET /api/v1/events/:id/draw answer, and waiting for a draw's close on MySQL's clock.
 */
import { createHmac } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eventsRepository } from '../../src/catalog'
import { repoPath } from '../../src/util/paths'
import type { TestEnv } from './env'
import { until } from './sale'
import type { Test } from './tap-types'

/** Entry ids ranked by HMAC-SHA256(seed, entry id), lowest first: the README's ranking. */
export function recompute (seed: string, entries: readonly string[]): string[] {
  const key = (id: string): string => createHmac('sha256', Buffer.from(seed, 'hex')).update(id).digest('hex')
  return entries.map((id) => [key(id), id] as const).sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1).map(([, id]) => id)
}

/** Runs the README's draw-check block on a GET /draw answer; its output, or the error it threw. */
export function readmeCheck (t: Test, data: unknown): string {
  const block = /<!-- draw-check:start -->\n```js\n([\s\S]*?)```\n<!-- draw-check:end -->/.exec(readFileSync(repoPath('README.md'), 'utf8'))?.[1]
  if (block === undefined) throw new Error('the README has no draw-check block')
  const dir = mkdtempSync(join(tmpdir(), 'draw-check-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  writeFileSync(join(dir, 'check-draw.js'), block)
  try {
    return execFileSync(process.execPath, [join(dir, 'check-draw.js')], { input: JSON.stringify(data), encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] })
  } catch (err) {
    return `refused: ${String((err as { stderr?: string }).stderr ?? err)}`
  }
}

/** Resolves once the draw's close (its start_at) has passed on MySQL's clock. */
export async function closed (env: TestEnv, eventId: number): Promise<void> {
  const events = eventsRepository(env.db)
  await until(async () => (await events.msUntilStart(eventId) ?? 1) <= 0, 30_000, 'the close on MySQL\'s clock')
}
