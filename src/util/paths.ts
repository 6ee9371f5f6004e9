import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'

let root: string | undefined

/** The repository root (where package.json is), from source or from the compiled `dist/`. */
export function repoRoot (): string {
  if (root !== undefined) return root
  let dir = __dirname
  while (!existsSync(join(dir, 'package.json')) || dir.endsWith('dist')) {
    const up = dirname(dir)
    if (up === dir) throw new Error('repository root not found')
    dir = up
  }
  root = dir
  return dir
}

export function repoPath (...parts: string[]): string {
  return join(repoRoot(), ...parts)
}
