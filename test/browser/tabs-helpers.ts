/**
 * Tabs of one browser context driving the in-page harness, for the many-tabs suites
 * (`tabs.test.ts`, `tabs-handoff.test.ts`).
 */
import assert from 'node:assert/strict';
import type { BrowserContext, Page } from 'playwright-core';
import { deadline } from '../helpers/index.ts';
import { harnessSource, type TestBrowser } from './chromium.ts';

/** How long another tab may take to lead and reconnect once the leader is gone (README "Many tabs"). */
export const HANDOFF_BOUND_MS = 10_000;

/** How the tabs choose their leader: the Web Locks API, or (with it deleted) BroadcastChannel alone. */
export type Election = 'Web Locks' | 'BroadcastChannel';
export const ELECTIONS: Election[] = ['Web Locks', 'BroadcastChannel'];

/**
 * Runs in every page of a context before its scripts: deletes the Web Locks API for
 * `BroadcastChannel` (as in a browser without it), and lets a test cut a page off its group's
 * control channel (`window.__cut = true`: what it posts there and what arrives there is
 * dropped; session channels, `rt-share/<key>/<session>`, still work) to make two leaders at once.
 */
const init = (noLocks: boolean): string => `
  ${noLocks ? 'delete Navigator.prototype.locks;' : ''}
  window.__cut = false;
  const control = (channel) => channel.name.split('/').length === 2;
  const post = BroadcastChannel.prototype.postMessage;
  BroadcastChannel.prototype.postMessage = function (message) {
    if (!(window.__cut && control(this))) post.call(this, message);
  };
  const onmessage = Object.getOwnPropertyDescriptor(BroadcastChannel.prototype, 'onmessage');
  Object.defineProperty(BroadcastChannel.prototype, 'onmessage', {
    ...onmessage,
    set(handler) {
      const channel = this;
      onmessage.set.call(channel, handler && ((event) => {
        if (!(window.__cut && control(channel))) handler.call(channel, event);
      }));
    },
  });
`;

/** A browser context (one user's browser) whose pages elect their leader with `election`. */
export async function tabsContext(browser: TestBrowser, election: Election): Promise<BrowserContext> {
  const context = await browser.browser.newContext();
  await context.addInitScript(init(election === 'BroadcastChannel'));
  return context;
}

/** A new tab of `context` with the client bundle and the harness loaded. */
export async function openTab(
  browser: TestBrowser,
  context: BrowserContext,
  url: string,
  label: string,
): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => browser.errors.push(`${label}: ${error.message}`));
  await page.goto(`${url}/rt/health`);
  await page.setContent('<!doctype html><title>rt tab</title>');
  await page.addScriptTag({ url: '/rt/rt-client.min.js' });
  await page.addScriptTag({ content: await harnessSource() });
  return page;
}

/** Calls `harness.<call>` in the page. */
export const t = <T = unknown>(page: Page, call: string): Promise<T> => page.evaluate(`harness.${call}`) as Promise<T>;
export const until = (page: Page, condition: string, timeout = 15_000): Promise<unknown> =>
  page.waitForFunction(condition, null, { timeout });
/** The `n` of every message of `topic` the tab's app got, in order. */
export const numbers = (page: Page, topic: string): Promise<number[]> =>
  page.evaluate(`harness.got.sub.filter((m) => m[1] === ${JSON.stringify(topic)}).map((m) => m[2].n)`) as Promise<
    number[]
  >;

/** Polls `check` (a broker-side count) until it holds, failing after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  await deadline(
    (async () => {
      while (!(await check())) await new Promise((r) => setTimeout(r, 50));
    })(),
    ms,
    what,
  );
}

/** Waits until exactly one of `tabs` leads and all are open; returns how long that took from `since`. */
export async function oneLeader(tabs: Page[], since: number, bound = HANDOFF_BOUND_MS): Promise<number> {
  let roles: string[] = [];
  let states: string[] = [];
  await eventually(
    async () => {
      roles = await Promise.all(tabs.map((tab) => t<string>(tab, 'role()')));
      states = await Promise.all(tabs.map((tab) => t<string>(tab, 'state()')));
      return roles.filter((r) => r === 'leader').length === 1 && states.every((s) => s === 'open');
    },
    bound,
    'one tab to lead, every tab open',
  ).catch((e: unknown) => {
    throw new Error(`${String(e)} (roles ${roles.join(', ')}; states ${states.join(', ')})`);
  });
  return Date.now() - since;
}

/**
 * The app of `tab` got every one of the numbered messages 1..`total` of `topic` exactly once
 * (the dev broker's history covers every hand-off here, so no gap is expected either).
 */
export async function everyNumberOnce(tab: Page, topic: string, total: number): Promise<void> {
  const all = `new Set(harness.got.sub.filter((m) => m[1] === ${JSON.stringify(topic)}).map((m) => m[2].n)).size >= ${total}`;
  await until(tab, `harness.got.gaps.length > 0 || ${all}`).catch(async (e: unknown) => {
    throw new Error(
      `${String(e)}: got ${JSON.stringify(await numbers(tab, topic))} ${await t(tab, 'role()')} ${JSON.stringify(await t(tab, 'got.states'))}`,
    );
  });
  const got = await numbers(tab, topic);
  const gaps = await t<unknown[]>(tab, 'got.gaps');
  assert.equal(new Set(got).size, got.length, `no message twice: ${JSON.stringify(got)}`);
  const missing = Array.from({ length: total }, (_, i) => i + 1).filter((n) => !got.includes(n));
  assert.ok(missing.length === 0 || gaps.length > 0, `missing ${missing.join(',')} without a gap`);
  assert.deepEqual(missing, [], 'every message recovered from history');
}
