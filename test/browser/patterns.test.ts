/**
 * Every pattern between two real browser pages, per transport, through the client's browser
 * bundles (one page loads the IIFE `rt-client.min.js`, the other the ESM build); then the
 * broker process is killed and started again on the same port, and both pages carry on
 * without a reload and without application code re-subscribing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { BrokerProcess, TRANSPORTS, quiet } from '../helpers/index.ts';
import { harnessSource, launchChromium, type TestBrowser } from './chromium.ts';

const WAIT = { timeout: 10_000 };

/** A blank page on the broker's origin with the `rt` global from `bundle`, and the harness. */
async function openPage(browser: TestBrowser, url: string, bundle: 'iife' | 'esm', label: string): Promise<Page> {
  const page = await browser.page(label);
  await page.goto(`${url}/rt/health`);
  await page.setContent('<!doctype html><title>rt test page</title>');
  if (bundle === 'iife') await page.addScriptTag({ url: '/rt/rt-client.min.js' });
  else
    await page.addScriptTag({
      type: 'module',
      content: "import * as rt from '/rt/rt-client.browser.mjs'; window.rt = rt;",
    });
  await page.waitForFunction('typeof window.rt?.connect === "function"', null, WAIT);
  await page.addScriptTag({ content: await harnessSource() });
  // Survives only if the page is never reloaded.
  await page.evaluate('window.marker = "same page"');
  return page;
}

/** Evaluates `harness.<call>` in the page. */
const h = <T = unknown>(page: Page, call: string): Promise<T> => page.evaluate(`harness.${call}`) as Promise<T>;
const until = (page: Page, condition: string): Promise<unknown> => page.waitForFunction(condition, null, WAIT);
const got = <T>(page: Page, what: 'sub' | 'bus' | 'job'): Promise<T[]> =>
  page.evaluate(`harness.got.${what}`) as Promise<T[]>;

describe('browser: two pages, every pattern, broker restarted mid-test', () => {
  let browser: TestBrowser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.[Symbol.asyncDispose]();
  });

  for (const transport of TRANSPORTS) {
    it(`over ${transport}`, async () => {
      await using broker = await new BrokerProcess().start();
      const a = await openPage(browser, broker.url, 'iife', `${transport} page A`);
      const b = await openPage(browser, broker.url, 'esm', `${transport} page B`);
      try {
        await Promise.all([h(a, `start(${JSON.stringify(transport)})`), h(b, `start(${JSON.stringify(transport)})`)]);
        assert.deepEqual([await h(a, 'transport()'), await h(b, 'transport()')], [transport, transport]);

        // Set up once: nothing below re-subscribes, re-joins or re-pulls after the restart.
        await Promise.all([
          h(a, "subscribe('home')"),
          h(a, "subscribe('home/kitchen/temp')"),
          h(b, "subscribe('home/garden')"),
          h(a, "join('chat/lobby')"),
          h(b, "join('chat/lobby')"),
          h(a, "pull('jobs')"),
          h(b, "pull('jobs')"),
        ]);

        const exchange = async (round: number): Promise<void> => {
          // pub/sub with hierarchy: A's `home` gets both, A's `home/kitchen/temp` only its own topic,
          // B's `home/garden` only the garden; never a sibling.
          await h(b, `publish('home/kitchen/temp', { round: ${round}, c: 21 })`);
          await h(a, `publish('home/garden/temp', { round: ${round}, c: 12 })`);
          await h(a, `publish('homer', { round: ${round} })`);
          await until(a, `harness.got.sub.length >= ${3 * round}`);
          await until(b, `harness.got.sub.length >= ${round}`);
          // bus: each page receives the other's message, never its own.
          await h(a, `send('chat/lobby', 'A${round}')`);
          await h(b, `send('chat/lobby', 'B${round}')`);
          await until(a, `harness.got.bus.length >= ${round}`);
          await until(b, `harness.got.bus.length >= ${round}`);
          // push/pull: two jobs, one per page (a puller holds one job at a time, and they take turns).
          for (let i = 0; i < 2; i++) await h(a, `push('jobs', ${round * 10 + i})`);
          await until(a, `harness.got.job.length >= ${round}`);
          await until(b, `harness.got.job.length >= ${round}`);
          await quiet();
        };

        await exchange(1);

        await broker.kill();
        await Promise.all([
          until(a, "harness.state() === 'reconnecting'"),
          until(b, "harness.state() === 'reconnecting'"),
        ]);
        await broker.start();
        await Promise.all([until(a, "harness.state() === 'open'"), until(b, "harness.state() === 'open'")]);
        await Promise.all([h(a, 'barrier()'), h(b, 'barrier()')]);

        await exchange(2);

        const expected = (round: number) => ({
          a: [
            ['home', 'home/kitchen/temp', { round, c: 21 }],
            ['home/kitchen/temp', 'home/kitchen/temp', { round, c: 21 }],
            ['home', 'home/garden/temp', { round, c: 12 }],
          ],
          b: [['home/garden', 'home/garden/temp', { round, c: 12 }]],
        });
        // Order across the two subscriptions of one page is per message: both of a message, then the next.
        const sortKey = (e: unknown): string => JSON.stringify(e);
        const subA = await got<unknown>(a, 'sub');
        assert.deepEqual(subA.map(sortKey).sort(), [...expected(1).a, ...expected(2).a].map(sortKey).sort());
        assert.deepEqual(await got(b, 'sub'), [...expected(1).b, ...expected(2).b]);
        assert.deepEqual(await got(a, 'bus'), ['B1', 'B2']);
        assert.deepEqual(await got(b, 'bus'), ['A1', 'A2']);
        const jobsA = await got<number>(a, 'job');
        const jobsB = await got<number>(b, 'job');
        assert.equal(jobsA.length, 2, `page A took ${JSON.stringify(jobsA)}`);
        assert.equal(jobsB.length, 2, `page B took ${JSON.stringify(jobsB)}`);
        assert.deepEqual(
          [...jobsA, ...jobsB].sort((x, y) => x - y),
          [10, 11, 20, 21],
        );

        for (const page of [a, b]) {
          assert.equal(await page.evaluate('window.marker'), 'same page', 'the page was not reloaded');
          const states = await page.evaluate('harness.got.states');
          assert.deepEqual(states, ['open', 'reconnecting', 'open']);
        }
        assert.deepEqual(
          browser.errors.filter((e) => e.startsWith(transport)),
          [],
        );
      } finally {
        await a.close();
        await b.close();
      }
    });
  }
});
