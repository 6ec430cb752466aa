/**
 * A small React page (`page.tsx`, bundled by esbuild with React and `@rt/react` as built) in
 * real Chromium against a broker: the connection state and the latest messages render, the
 * page publishes, and it carries on through a broker restart without a reload.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { build } from 'esbuild';
import { createBroker } from '@rt/server';
import { Collector, clients, deadline, startBroker } from '../helpers/index.ts';
import { launchChromium, type TestBrowser } from '../browser/chromium.ts';

const WAIT = { timeout: 15_000 };

/** The page's script: React in production mode, every import bundled. */
async function bundlePage(): Promise<string> {
  const result = await build({
    entryPoints: [join(import.meta.dirname, 'page.tsx')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

describe('browser: a React page on @rt/react', () => {
  let browser: TestBrowser;
  let script: string;
  before(async () => {
    [browser, script] = await Promise.all([launchChromium(), bundlePage()]);
  });
  after(async () => {
    await browser?.[Symbol.asyncDispose]();
  });

  it('renders state and messages, publishes, and survives a broker restart', async () => {
    const first = await startBroker();
    let second: ReturnType<typeof createBroker> | undefined;
    const page = await browser.page('react page');
    try {
      await page.goto(`${first.url}/rt/health`);
      await page.setContent('<!doctype html><title>rt React page</title><div id="root"></div>');
      await page.addScriptTag({ content: script });
      await page.locator('#state', { hasText: 'open' }).waitFor(WAIT);

      // Subscribed (the broker's publish reaches the page), and the latest 3 are shown.
      await using made = clients(first.url, 'websocket');
      const heard = new Collector<unknown>();
      await made.make().topic('chat').subscribe(heard.push).ready;
      for (const text of ['one', 'two', 'three', 'four']) await first.broker.publish('chat', text);
      await page.waitForFunction(() => document.querySelector('#messages')?.textContent === 'twothreefour', null, WAIT);
      await page.fill('#draft', 'from the page');
      await page.click('#send');
      assert.deepEqual(await heard.until(5, 10_000), ['one', 'two', 'three', 'four', 'from the page']);

      await first.broker.close();
      await page.locator('#state', { hasText: 'reconnecting' }).waitFor(WAIT);
      second = createBroker({ mode: 'production', logger: { level: 'silent' } });
      const engine = second.engine;
      const listen = engine.listen;
      const resubscribed = new Promise<void>((resolve) => {
        engine.listen = (topic) => {
          if (topic === 'chat') resolve();
          return listen.call(engine, topic);
        };
      });
      await second.listen(`http://127.0.0.1:${first.port}`);
      await page.locator('#state', { hasText: 'open' }).waitFor(WAIT);
      await deadline(resubscribed, 15_000, 'the page resubscribed');
      await second.publish('chat', 'after the restart');
      await page.locator('#messages li', { hasText: 'after the restart' }).waitFor(WAIT);
      assert.deepEqual(browser.errors, []);
    } finally {
      await page.close();
      await second?.close();
    }
  });
});
