/**
 * HTTP/2 with TLS: the broker serves HTTPS itself (`tls` option, as `rt broker --tls-cert
 * --tls-key` does) or inside the application's own `http2.createSecureServer`. Ten tabs on SSE
 * with their own connections (`share: false`) all work — over HTTP/1.1 the browser would stall
 * the seventh — because Chromium multiplexes them on one HTTP/2 connection; long-polling and
 * Mercure run on HTTP/2 too, and WebSocket on the HTTP/1.1 the server also speaks.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { BrowserContext, Page } from 'playwright-core';
import { createBroker } from '@rt/server';
import { selfSignedCertificate, type TestCertificate } from '../helpers/tls.ts';
import { KEY as MERCURE_KEY, token as mercureToken } from '../helpers/mercure.ts';
import { harnessSource, launchChromium, type TestBrowser } from './chromium.ts';

const TABS = 10;

async function openTab(browser: TestBrowser, context: BrowserContext, url: string, label: string): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => browser.errors.push(`${label}: ${error.message}`));
  await page.goto(url);
  await page.addScriptTag({ url: '/rt/rt-client.min.js' });
  await page.addScriptTag({ content: await harnessSource() });
  return page;
}

const h = <T = unknown>(page: Page, call: string): Promise<T> => page.evaluate(`harness.${call}`) as Promise<T>;
/** The protocol of every request the page made to rt's paths (the bundle, SSE POSTs, polls). */
const protocols = (page: Page): Promise<string[]> =>
  page.evaluate(
    "performance.getEntriesByType('resource').filter((e) => e.name.includes('/rt/')).map((e) => e.nextHopProtocol)",
  ) as Promise<string[]>;

describe('browser: HTTP/2 and TLS', () => {
  let browser: TestBrowser;
  let certificate: TestCertificate;
  before(async () => {
    certificate = await selfSignedCertificate();
    browser = await launchChromium(['--ignore-certificate-errors']);
  });
  after(async () => {
    await browser?.[Symbol.asyncDispose]();
    await certificate?.[Symbol.asyncDispose]();
  });

  it(`${TABS} tabs on SSE with share: false, long-polling, WebSocket and Mercure on the broker's own HTTPS`, async () => {
    const broker = createBroker({
      mode: 'development',
      logger: { level: 'silent' },
      tls: { cert: certificate.cert, key: certificate.key },
      mercure: { key: MERCURE_KEY, anonymous: true },
    });
    const { url, port } = await broker.listen('https://127.0.0.1:0');
    assert.equal(url, `https://127.0.0.1:${port}`);
    const context = await browser.browser.newContext();
    try {
      const tabs: Page[] = [];
      for (let i = 0; i < TABS; i++) tabs.push(await openTab(browser, context, `${url}/rt/health`, `tab ${i}`));
      // Sequentially: each one is fully open (its stream held) before the next tries.
      for (const tab of tabs) await h(tab, "start('sse', { share: false })");
      for (const tab of tabs) assert.equal(await h(tab, 'role()'), 'own');
      for (const tab of tabs) await h(tab, "subscribe('feed')");
      assert.equal(broker.stats().sessions, TABS, 'a connection per tab');
      for (const [i, tab] of tabs.entries()) await h(tab, `publish('feed', ${i})`);
      for (const tab of tabs) await tab.waitForFunction(`harness.got.sub.length >= ${TABS}`, null, { timeout: 15_000 });
      for (const tab of tabs) {
        const got = (await h<[string, string, number][]>(tab, 'got.sub')).map((m) => m[2]).sort((a, b) => a - b);
        assert.deepEqual(
          got,
          Array.from({ length: TABS }, (_, i) => i),
        );
        const used = await protocols(tab);
        assert.ok(used.length >= 2, `requests to rt: ${used.join(', ')}`);
        assert.deepEqual(new Set(used), new Set(['h2']), 'every request went over HTTP/2');
      }

      // Long-polling and WebSocket beside them, in the same browser.
      const polling = await openTab(browser, context, `${url}/rt/health`, 'polling');
      await h(polling, "start('polling', { share: false })");
      const ws = await openTab(browser, context, `${url}/rt/health`, 'websocket');
      await h(ws, "start('websocket', { share: false })");
      assert.equal(await h(ws, 'transport()'), 'websocket');
      await h(polling, "subscribe('feed')");
      await h(ws, "publish('feed', 'from websocket')");
      await polling.waitForFunction("harness.got.sub.some((m) => m[2] === 'from websocket')", null, {
        timeout: 15_000,
      });
      assert.deepEqual(new Set(await protocols(polling)), new Set(['h2']), 'long-polls over HTTP/2');

      // Mercure: a subscriber's EventSource and a publisher's POST, over HTTP/2.
      const publisher = await mercureToken({ mercure: { publish: ['*'] } });
      const received = polling.evaluate(
        `new Promise((resolve) => {
          const es = new EventSource('/.well-known/mercure?topic=' + encodeURIComponent('https://example.com/books/1'));
          es.onmessage = (event) => { es.close(); resolve(event.data); };
          es.onopen = () => fetch('/.well-known/mercure', {
            method: 'POST',
            headers: { authorization: 'Bearer ${publisher}', 'content-type': 'application/x-www-form-urlencoded' },
            body: 'topic=' + encodeURIComponent('https://example.com/books/1') + '&data=over%20h2',
          });
        })`,
      );
      assert.equal(await received, 'over h2');
      const mercure = (await polling.evaluate(
        "performance.getEntriesByType('resource').filter((e) => e.name.includes('/.well-known/mercure')).map((e) => e.nextHopProtocol)",
      )) as string[];
      assert.ok(mercure.length > 0 && mercure.every((p) => p === 'h2'), `Mercure requests: ${mercure.join(', ')}`);
      assert.deepEqual(browser.errors, []);
    } finally {
      await context.close();
      await broker.close();
    }
  });

  it("embedded in the application's own http2.createSecureServer({ allowHTTP1: true })", async () => {
    const server = createSecureServer(
      { cert: certificate.cert, key: certificate.key, allowHTTP1: true },
      (req, res) => {
        if (req.url === '/app') {
          res.writeHead(200, { 'content-type': 'text/html' });
          res.end(`<!doctype html><title>app</title><p id="proto">${req.httpVersion}</p>`);
        } else {
          res.writeHead(404);
          res.end();
        }
      },
    );
    const broker = createBroker({ mode: 'development', logger: { level: 'silent' } }).attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const context = await browser.browser.newContext();
    try {
      const sse = await openTab(browser, context, `${url}/app`, 'embedded sse');
      // The application still answers its own paths, over HTTP/2.
      assert.equal(await sse.locator('#proto').textContent(), '2.0');
      await h(sse, "start('sse', { share: false })");
      const ws = await openTab(browser, context, `${url}/app`, 'embedded websocket');
      await h(ws, "start('websocket', { share: false })");
      await h(sse, "subscribe('news')");
      await h(ws, "publish('news', 'hello')");
      await sse.waitForFunction("harness.got.sub.some((m) => m[2] === 'hello')", null, { timeout: 15_000 });
      assert.deepEqual(new Set(await protocols(sse)), new Set(['h2']));
      assert.deepEqual(browser.errors, []);
    } finally {
      await context.close();
      await broker.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
