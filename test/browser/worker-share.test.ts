/**
 * Workers share too (README "Many tabs" › "Where."): a page and a dedicated module Web Worker of
 * it, each with its own client of the built browser bundle, connect to the same broker with the
 * same credentials and go through ONE connection, whichever of them leads; the worker subscribes
 * and gets what the page publishes, and a bus message of the page reaches the worker and not the
 * page. A SharedWorker shares with the page the same way.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Page, Worker } from 'playwright-core';
import { TRANSPORTS, startBroker } from '../helpers/index.ts';
import { harnessSource, launchChromium, type TestBrowser } from './chromium.ts';
import { ELECTIONS, type Election, eventually, numbers, openTab, t, tabsContext, until } from './tabs-helpers.ts';

/**
 * The worker's script: the harness of the pages, on the client the worker loads itself (the ESM
 * bundle, `import()`ed, in a module worker; the minified one, `importScripts`ed, in a classic
 * one). Without Web Locks (`noLocks`), the API is deleted first, as in the pages of that election.
 */
const workerSource = async (origin: string, module: boolean, noLocks: boolean): Promise<string> => `
  ${noLocks ? 'delete WorkerNavigator.prototype.locks;' : ''}
  self.addEventListener('error', (e) => console.error('uncaught: ' + e.message));
  self.addEventListener('unhandledrejection', (e) => console.error('unhandled: ' + e.reason));
  self.window = self;
  ${
    module
      ? `self.rt = await import(${JSON.stringify(`${origin}/rt/rt-client.browser.mjs`)});`
      : `importScripts(${JSON.stringify(`${origin}/rt/rt-client.min.js`)});`
  }
  ${await harnessSource()}
  self.ready = true;
`;

/** Starts a dedicated module worker of `page` running the harness, and waits until it is loaded. */
async function startWorker(browser: TestBrowser, page: Page, origin: string, election: Election): Promise<Worker> {
  const source = await workerSource(origin, true, election === 'BroadcastChannel');
  const started = page.waitForEvent('worker');
  await page.evaluate((src) => {
    const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
    (globalThis as { worker?: unknown }).worker = new globalThis.Worker(url, { type: 'module' });
  }, source);
  const worker = await started;
  worker.on('console', (message) => {
    if (message.type() === 'error') browser.errors.push(`worker: ${message.text()}`);
  });
  await eventually(async () => (await worker.evaluate('self.ready === true')) === true, 10_000, 'the worker loaded');
  return worker;
}

/** Calls `harness.<call>` in the worker. */
const w = <T = unknown>(worker: Worker, call: string): Promise<T> => worker.evaluate(`harness.${call}`) as Promise<T>;

/** Waits until `condition` (evaluated in the worker) holds. */
const workerUntil = (worker: Worker, condition: string, what: string): Promise<void> =>
  eventually(async () => (await worker.evaluate(condition)) === true, 15_000, what);

/**
 * Starts a SharedWorker (classic) running the harness, from `page`, which then calls it with
 * `sharedCall(call)`: `harness.<call>` runs in the worker, and its value (or error) comes back
 * over the worker's port. The worker's uncaught errors come back too, into the page's `sharedErrors`.
 */
async function startSharedWorker(page: Page, origin: string): Promise<void> {
  const source = `
    let port;
    const errors = [];
    const uncaught = (message) => (port ? port.postMessage({ uncaught: message }) : errors.push(message));
    self.onconnect = (event) => {
      port = event.ports[0];
      for (const message of errors.splice(0)) port.postMessage({ uncaught: message });
      port.onmessage = async ({ data: { id, call } }) => {
        try {
          const value = await (0, eval)('harness.' + call);
          try {
            port.postMessage({ id, value });
          } catch {
            port.postMessage({ id, value: null });
          }
        } catch (error) {
          port.postMessage({ id, error: String(error) });
        }
      };
    };
    self.addEventListener('error', (e) => uncaught(e.message));
    self.addEventListener('unhandledrejection', (e) => uncaught(String(e.reason)));
    ${await workerSource(origin, false, false)}
  `;
  await page.evaluate((src) => {
    const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
    const shared = new SharedWorker(url);
    const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
    let ids = 0;
    const sharedErrors: string[] = [];
    (globalThis as { sharedErrors?: unknown }).sharedErrors = sharedErrors;
    shared.port.onmessage = ({ data }) => {
      if ('uncaught' in data) sharedErrors.push(data.uncaught);
      const call = pending.get(data.id);
      pending.delete(data.id);
      if ('error' in data) call?.reject(new Error(data.error));
      else call?.resolve(data.value);
    };
    (globalThis as { sharedCall?: unknown }).sharedCall = (call: string) =>
      new Promise((resolve, reject) => {
        pending.set(++ids, { resolve, reject });
        shared.port.postMessage({ id: ids, call });
      });
  }, source);
  await eventually(
    async () => (await s(page, 'got !== undefined').catch(() => false)) === true,
    10_000,
    'the shared worker loaded',
  );
}

/** Calls `harness.<call>` in the page's SharedWorker. */
const s = <T = unknown>(page: Page, call: string): Promise<T> =>
  page.evaluate(`sharedCall(${JSON.stringify(call)})`) as Promise<T>;

describe('browser: a page and its worker share one connection', () => {
  let browser: TestBrowser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.[Symbol.asyncDispose]();
  });

  for (const election of ELECTIONS)
    for (const transport of TRANSPORTS)
      for (const leads of ['page', 'worker'] as const) {
        it(`a page and a dedicated worker over ${transport}, ${election}, the ${leads} leading: one connection, pub/sub and bus between them`, async () => {
          await using b = await startBroker({ mode: 'development' });
          const context = await tabsContext(browser, election);
          try {
            const page = await openTab(browser, context, b.url, `${transport} page`);
            const worker = await startWorker(browser, page, b.url, election);
            assert.equal(
              await worker.evaluate('typeof navigator.locks'),
              election === 'Web Locks' ? 'object' : 'undefined',
            );
            // The first to connect leads.
            const start = `start(${JSON.stringify(transport)})`;
            if (leads === 'page') {
              await t(page, start);
              await w(worker, start);
            } else {
              await w(worker, start);
              await t(page, start);
            }
            assert.equal(await t(page, 'role()'), leads === 'page' ? 'leader' : 'follower');
            assert.equal(await w(worker, 'role()'), leads === 'worker' ? 'leader' : 'follower');
            assert.equal(await w(worker, 'transport()'), transport);
            assert.equal(await t(page, 'transport()'), transport);

            await w(worker, "subscribe('news')");
            await t(page, "join('room')");
            await w(worker, "join('room')");
            assert.equal(b.broker.stats().sessions, 1, 'one connection for the page and its worker');

            // pub/sub: what the page publishes reaches the worker's subscription.
            await t(page, "publish('news', { n: 1 })");
            await workerUntil(worker, "harness.got.sub.some((m) => m[1] === 'news')", 'the message in the worker');
            assert.deepEqual(await w(worker, 'got.sub'), [['news', 'news', { n: 1 }]]);

            // bus: the page's message reaches the worker, never the page (a round trip of the page
            // over the connection after it, and the worker's message to the page, come first).
            await t(page, "send('room', 'from the page')");
            await workerUntil(worker, 'harness.got.bus.length >= 1', 'the bus message in the worker');
            await t(page, 'barrier()');
            await w(worker, "send('room', 'from the worker')");
            await until(page, 'harness.got.bus.length >= 1');
            assert.deepEqual(await w(worker, 'got.bus'), ['from the page']);
            assert.deepEqual(await t(page, 'got.bus'), ['from the worker']);

            // Still the one connection, and what the broker publishes reaches the worker through it.
            assert.equal(b.broker.stats().sessions, 1);
            await b.broker.publish('news', { n: 2 });
            await workerUntil(worker, 'harness.got.sub.length >= 2', 'the server message in the worker');
            assert.deepEqual(
              (await w<[string, string, { n: number }][]>(worker, 'got.sub')).map((m) => m[2].n),
              [1, 2],
            );
            assert.deepEqual(await numbers(page, 'news'), []);
            assert.deepEqual(browser.errors, []);
          } finally {
            await context.close();
          }
        });
      }

  for (const leads of ['page', 'shared worker'] as const)
    it(`a page and a SharedWorker over websocket, the ${leads} leading: one connection, pub/sub and bus between them`, async () => {
      await using b = await startBroker({ mode: 'development' });
      const context = await tabsContext(browser, 'Web Locks');
      try {
        const page = await openTab(browser, context, b.url, 'shared worker page');
        await startSharedWorker(page, b.url);
        if (leads === 'page') {
          await t(page, "start('websocket')");
          await s(page, "start('websocket')");
        } else {
          await s(page, "start('websocket')");
          await t(page, "start('websocket')");
        }
        assert.equal(await t(page, 'role()'), leads === 'page' ? 'leader' : 'follower');
        assert.equal(await s(page, 'role()'), leads === 'page' ? 'follower' : 'leader');

        await s(page, "subscribe('news')");
        await t(page, "join('room')");
        await s(page, "join('room')");
        assert.equal(b.broker.stats().sessions, 1, 'one connection for the page and the shared worker');

        await t(page, "publish('news', { n: 1 })");
        await eventually(
          async () => (await s<unknown[]>(page, 'got.sub')).length >= 1,
          15_000,
          'the message in the shared worker',
        );
        assert.deepEqual(await s(page, 'got.sub'), [['news', 'news', { n: 1 }]]);

        await t(page, "send('room', 'from the page')");
        await eventually(
          async () => (await s<unknown[]>(page, 'got.bus')).length >= 1,
          15_000,
          'the bus message in the shared worker',
        );
        await t(page, 'barrier()');
        await s(page, "send('room', 'from the worker')");
        await until(page, 'harness.got.bus.length >= 1');
        assert.deepEqual(await s(page, 'got.bus'), ['from the page']);
        assert.deepEqual(await t(page, 'got.bus'), ['from the worker']);
        assert.equal(b.broker.stats().sessions, 1);
        assert.deepEqual(await page.evaluate('sharedErrors'), []);
        assert.deepEqual(browser.errors, []);
      } finally {
        await context.close();
      }
    });
});
