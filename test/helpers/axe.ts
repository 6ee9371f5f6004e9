/** axe-core in a page: every WCAG 2 A/AA rule and best practice, violations only. */
import type { Page } from 'playwright-core'

export interface AxeViolation {
  readonly id: string
  readonly impact: string | null
  readonly help: string
  readonly nodes: ReadonlyArray<{ readonly target: readonly string[] }>
}

/** The page's accessibility violations now (the context needs `bypassCSP: true` for the script). */
export async function axeViolations (page: Page): Promise<AxeViolation[]> {
  if (await page.evaluate('typeof window.axe') === 'undefined') await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') })
  return await page.evaluate<AxeViolation[]>('axe.run(document, { resultTypes: [\'violations\'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) })))')
}

/** One line per violation, for a test's message. */
export function describeViolations (vs: readonly AxeViolation[]): string {
  return vs.map((v) => `${v.id} (${v.impact ?? '?'}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`).join('; ')
}
