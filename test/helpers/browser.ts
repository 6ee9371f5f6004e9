/** Debian's Chromium driven by playwright-core, for the tests of the pages. */
import { mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import type { Browser, Page } from 'playwright-core'
import { repoPath } from '../../src/util/paths'
import type { TestEnv } from './env'

export const CHROMIUM = '/usr/bin/chromium'

// The committed screenshots change only when asked (SCREENSHOTS=1); a plain test run keeps its own.
const SHOTS = process.env.SCREENSHOTS === '1' ? repoPath('src', 'web', 'screenshots') : join(tmpdir(), 'seckill-screenshots')

/** A full-page screenshot named `name` (README shows some of them). */
export async function shot (page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true })
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true })
}

/** A headless Chromium, closed when the test's environment is removed. */
export async function launchBrowser (env: TestEnv): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync']
  })
  env.defer(async () => { await browser.close() })
  return browser
}

/** Signs up on the buyer page's sign-up form (one click from the sign-in form), and waits until the page says who is signed in. */
export async function signUp (page: Page, email: string, password = 'correct horse battery'): Promise<void> {
  await page.click('#sign-up-link')
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(password)
  await page.click('#sign-up')
  // Signed in, or refused with words: a refusal fails here with what the page said.
  await page.waitForSelector('#signed-in, .signin .message:not(:empty)')
  if (await page.locator('#signed-in').count() === 0) throw new Error(`sign-up refused: ${await page.textContent('.signin .message') ?? ''}`)
}
