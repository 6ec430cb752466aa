/**
 * The client's honesty where only a browser shows it: two tabs of the example app in one
 * browser profile on SSE or long-polling (more connections than the browser allows per host)
 * never say `open` while nothing gets through; `offline`/`online` and `visibilitychange`
 * suspend and bring the connection back at once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BrowserContext, Page } from 'playwright-core';
import { BrokerProcess, deadline } from '../helpers/index.ts';
import { launchChromium, type TestBrowser } from './chromium.ts';

/** A blank page on the broker's origin with the `rt` global, in `context`. */
async function bundlePage(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${url}/rt/health`);
  await page.setContent('<!doctype html><title>rt test page</title>');
  await page.addScriptTag({ url: '/rt/rt-client.min.js' });
  await page.waitForFunction('typeof window.rt?.connect === "function"');
  return page;
}

/**
 * One sample of a tab of the example app: its state, and when it says `open`, whether that is
 * true. A round trip from its main client (a publish, answered by the broker at once) either
 * comes back within `ms` (the client's openTimeoutMs), or the client must leave `open` by itself
 * within `graceMs` more (it probes after openTimeoutMs and says `degraded` when the probe is
 * slow too, `reconnecting` when it gets no answer): `lie` is the case where it did neither.
 * (Strings, not functions, go into the page: nothing of the test's transpiler leaks in.)
 */
async function sample(page: Page, ms: number, graceMs: number): Promise<string> {
  return page.evaluate(`(async () => {
    const state = document.querySelector('#state')?.getAttribute('data-state') ?? 'none';
    if (state !== 'open') return state;
    const client = window.playground.client;
    let left = false;
    const off = client.on('state', ({ from }) => { if (from === 'open') left = true; });
    const answered = await Promise.race([
      client.topic('probe/roundtrip').publish(1).then(() => true, () => false),
      new Promise((r) => setTimeout(() => r(false), ${ms})),
    ]);
    if (answered) { off(); return 'open+'; }
    const until = Date.now() + ${graceMs};
    while (!left && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    off();
    return left ? 'open>left' : 'open!lie';
  })()`);
}

describe('browser: honest states', () => {
  let browser: TestBrowser;
  let broker: BrokerProcess;
  before(async () => {
    browser = await launchChromium();
    broker = await new BrokerProcess().start();
  });
  after(async () => {
    await browser?.[Symbol.asyncDispose]();
    await broker?.[Symbol.asyncDispose]();
  });

  for (const transport of ['sse', 'polling'] as const) {
    it(`two tabs of the example app in one profile over ${transport}: never "open" while starved`, async (t) => {
      const context = await browser.browser.newContext();
      try {
        const tabs = [await context.newPage(), await context.newPage()];
        for (const tab of tabs) await tab.goto(`${broker.url}/?transport=${transport}`);
        // Sample for a while: whenever a tab says open, a round trip must work.
        const samples: string[] = [];
        const until = Date.now() + 20_000;
        while (Date.now() < until) {
          const states = await Promise.all(tabs.map((tab) => sample(tab, 5_000, 10_000)));
          const line = states.map((state, i) => `${i}:${state}`).join(',');
          if (samples.at(-1) !== line) samples.push(line);
          await new Promise((r) => setTimeout(r, 250));
        }
        t.diagnostic(samples.join(' '));
        const lies = samples.filter((s) => s.includes('lie'));
        assert.deepEqual(lies, [], `a tab said open while nothing got through: ${samples.join(' ')}`);
      } finally {
        await context.close();
      }
    });
  }

  it('offline suspends, online reconnects at once (not after the backoff)', async () => {
    const context = await browser.browser.newContext();
    try {
      const page = await bundlePage(context, broker.url);
      await page.evaluate(`(() => {
        window.states = [];
        window.client = rt.connect(location.origin, {
          transports: ['websocket'],
          reconnect: { initialDelayMs: 60000, maxDelayMs: 60000 },
        });
        window.client.on('state', ({ to }) => window.states.push(to));
      })()`);
      await page.waitForFunction('window.client.state === "open"');
      await context.setOffline(true);
      await page.waitForFunction('window.client.state === "suspended"');
      await context.setOffline(false);
      await deadline(page.waitForFunction('window.client.state === "open"'), 10_000, 'open again');
      // The socket may drop before the browser says offline (then `reconnecting` comes first,
      // with a 60 s backoff): only `online` brings it back this soon.
      const states = (await page.evaluate('window.states')) as string[];
      assert.deepEqual(states.slice(-3), ['suspended', 'reconnecting', 'open'], states.join(' '));
    } finally {
      await context.close();
    }
  });

  it('hidden past backgroundGraceMs suspends; visible again reconnects at once', async () => {
    const context = await browser.browser.newContext();
    try {
      const page = await bundlePage(context, broker.url);
      await page.evaluate(`(() => {
        let visibility = 'visible';
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => visibility });
        window.setVisibility = (v) => {
          visibility = v;
          document.dispatchEvent(new Event('visibilitychange'));
        };
        window.client = rt.connect(location.origin, {
          transports: ['sse'],
          backgroundGraceMs: 100,
          reconnect: { initialDelayMs: 60000, maxDelayMs: 60000 },
        });
      })()`);
      await page.waitForFunction('window.client.state === "open"');
      await page.evaluate('window.setVisibility("hidden")');
      await page.waitForFunction('window.client.state === "suspended"');
      await page.evaluate('window.setVisibility("visible")');
      await deadline(page.waitForFunction('window.client.state === "open"'), 10_000, 'open again');
    } finally {
      await context.close();
    }
  });
});
