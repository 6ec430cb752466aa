/**
 * Headless Chromium (Debian's `chromium` package) driven by playwright-core, for the browser
 * suites. Never downloads a browser: `.ci/run` installs the Debian package when missing.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT } from '../helpers/index.ts';

/** The browser binary (override with `RT_CHROMIUM`). */
export const CHROMIUM = process.env.RT_CHROMIUM ?? '/usr/bin/chromium';
/** Where browser suites keep what they produce (screenshots): gitignored. */
export const OUTPUT = join(ROOT, '.test-output', 'browser');

/** Flags for a sandboxed, offline CI machine: no GPU, no QUIC, no calls home. */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** What Chromium logs by itself for a failed request or socket: not the page's own errors. */
const NETWORK_NOISE = /^(Failed to load resource|WebSocket connection to .* failed)/;

/** A browser with a fresh profile; every page error is recorded, to assert there were none. */
export interface TestBrowser extends AsyncDisposable {
  browser: Browser;
  /**
   * Uncaught errors and `console.error` lines of every page, as `page: message`; the browser's
   * own network-error lines are left out (a test that stops the broker causes them on purpose).
   */
  errors: string[];
  /**
   * A new page in a context of its own (its own cookies and storage, like another user), in
   * its own window: never a background tab, whose animation frames Chromium would hold back.
   * `label` names it in {@link errors}.
   */
  page(label: string, viewport?: { width: number; height: number }): Promise<Page>;
}

/**
 * Launches Chromium; playwright gives each launch a new, empty `--user-data-dir` of its own.
 * `args` adds flags (e.g. `--ignore-certificate-errors` for a test's self-signed certificate).
 */
export async function launchChromium(args: readonly string[] = []): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: install Debian's package (apt-get install -y chromium), as .ci/run does`,
    );
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...FLAGS, ...args] });
  const errors: string[] = [];
  return {
    browser,
    errors,
    // A page's context stays open until the browser closes (closing the page is enough for a test).
    async page(label, viewport = { width: 1100, height: 780 }) {
      const context = await browser.newContext({ viewport });
      context.setDefaultTimeout(10_000);
      const page = await context.newPage();
      page.on('pageerror', (error) => errors.push(`${label}: ${error.message}`));
      page.on('console', (message) => {
        if (message.type() === 'error' && !NETWORK_NOISE.test(message.text()))
          errors.push(`${label}: ${message.text()}`);
      });
      return page;
    },
    async [Symbol.asyncDispose]() {
      await browser.close();
    },
  };
}

/** Saves a screenshot of `page` as `OUTPUT/name.png` and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(OUTPUT, { recursive: true });
  const path = join(OUTPUT, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** The in-page test harness (plain JS, so nothing of the test's transpiler leaks into the page). */
export const harnessSource = (): Promise<string> => readFile(join(import.meta.dirname, 'harness.js'), 'utf8');
