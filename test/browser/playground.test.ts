/**
 * The example app, clicked through in Chromium as a user would: chat between two windows
 * (one phone-sized), the pub/sub topic tree, push/pull workers with a failed job, the
 * transport switch, and a broker restart that the page survives. A screenshot of each view
 * is saved in `.test-output/browser/`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { BrokerProcess, TRANSPORTS } from '../helpers/index.ts';
import { launchChromium, screenshot, type TestBrowser } from './chromium.ts';

const PHONE = { width: 390, height: 844 };

/** Every URL a page of the app requested: the app must need nothing but its own broker (no CDN). */
const requested: string[] = [];

async function openApp(browser: TestBrowser, url: string, label: string, viewport?: typeof PHONE): Promise<Page> {
  const page = await browser.page(label, viewport);
  page.on('request', (request) => requested.push(request.url()));
  await page.goto(`${url}/`);
  await page.locator('#state[data-state="open"]').waitFor();
  return page;
}

const tab = (page: Page, name: string) => page.locator(`.tabs button[data-view="${name}"]`).click();
const count = (page: Page, topic: string) => page.locator(`#tree li[data-topic="${topic}"] .count`);
const logLine = (page: Page, text: string) => page.locator('#log li', { hasText: text }).first();
/** A worker card's status line, once it reads `text` (set when the broker has confirmed). */
const workerStatus = (page: Page, worker: string, text: string) =>
  page.locator(`.worker[data-worker="${worker}"] .now`, { hasText: text });
/**
 * A round trip on the page's connection (the app exposes its client as `playground.client`):
 * once answered, what the page sent before (joins, unpulls, frames re-sent on reconnect) is
 * in place on the broker, since a connection's frames are handled in order.
 */
const barrier = (page: Page) => page.evaluate("playground.client.call('__barrier__').catch(() => undefined)");

describe('playground', () => {
  let browser: TestBrowser;
  let broker: BrokerProcess;
  let desktop: Page;
  let phone: Page;
  before(async () => {
    broker = await new BrokerProcess().start();
    browser = await launchChromium();
    desktop = await openApp(browser, broker.url, 'desktop');
    phone = await openApp(browser, broker.url, 'phone', PHONE);
  });
  after(async () => {
    await browser?.[Symbol.asyncDispose]();
    await broker?.[Symbol.asyncDispose]();
  });

  it('bus chat: two windows talk in a room, each message reaching the other', async () => {
    await desktop.locator('#chat-name').fill('ada');
    await phone.locator('#chat-name').fill('bob');
    for (const page of [desktop, phone])
      await page.locator('#chat-messages li.system', { hasText: 'joined chat/lobby' }).waitFor();
    await desktop.locator('#chat-input').fill('hello from the desktop');
    await desktop.locator('#chat-input').press('Enter');
    await phone.locator('#chat-messages li', { hasText: 'hello from the desktop' }).waitFor();
    assert.equal(await phone.locator('#chat-messages li', { hasText: 'ada' }).count(), 1);
    await phone.locator('#chat-input').fill('hi ada, bob here');
    await phone.locator('#chat-form button').click();
    await desktop.locator('#chat-messages li', { hasText: 'hi ada, bob here' }).waitFor();
    // A bus never echoes to the sender: each window shows its own line once, as "me".
    assert.equal(await desktop.locator('#chat-messages li', { hasText: 'hello from the desktop' }).count(), 1);
    assert.equal(await desktop.locator('#chat-messages li.mine').count(), 1);
    await screenshot(desktop, 'chat-desktop');
    await screenshot(phone, 'chat-phone');
  });

  it('pub/sub: a parent subscription receives its children, a sibling does not', async () => {
    await tab(desktop, 'pubsub');
    // `home/kitchen` is subscribed by default; add `home`.
    await desktop.locator('#tree li[data-topic="home"] .sub').click();
    await logLine(desktop, 'subscribed to home').waitFor();
    await desktop.locator('#tree li[data-topic="home/kitchen/temp"] .pub').click();
    await desktop.locator('#tree li[data-topic="home/garden/temp"] .pub').click();
    await desktop.locator('#pub-feed li').nth(2).waitFor();
    assert.equal(await count(desktop, 'home').textContent(), '2 received');
    assert.equal(await count(desktop, 'home/kitchen').textContent(), '1 received');
    assert.equal(await count(desktop, 'home/garden').textContent(), '');
    // The free-form publisher reaches the same subscriptions.
    await desktop.locator('#pub-topic').fill('home/kitchen/light');
    await desktop.locator('#pub-data').fill('{"on": true}');
    await desktop.locator('#pub-form button').click();
    await desktop.locator('#pub-feed li').nth(4).waitFor();
    assert.equal(await count(desktop, 'home/kitchen').textContent(), '2 received');
    await screenshot(desktop, 'pubsub');
  });

  it('push/pull: workers take turns and acknowledge; a failed job goes back to the queue', async () => {
    // The phone's workers pause (from the phone), so the desktop's three take the jobs.
    await tab(phone, 'jobs');
    for (const worker of ['A', 'B', 'C']) await phone.locator(`.worker[data-worker="${worker}"] .toggle`).click();
    for (const worker of ['A', 'B', 'C']) await workerStatus(phone, worker, 'paused').waitFor();
    await screenshot(phone, 'pushpull-phone');
    await tab(desktop, 'jobs');
    for (const worker of ['A', 'B', 'C']) await workerStatus(desktop, worker, 'waiting for jobs').waitFor();
    await desktop.locator('#push-five').click();
    await desktop.locator('#jobs li[data-status="acked"]').nth(4).waitFor({ timeout: 15_000 });
    // One job at a time per worker, five jobs at once: every worker took its turn.
    const done = (await desktop.locator('.worker .done').allTextContents()).map(Number);
    assert.equal(
      done.reduce((x, y) => x + y, 0),
      5,
      `jobs per worker: ${done.join(', ')}`,
    );
    assert.ok(
      done.every((n) => n >= 1),
      `jobs per worker: ${done.join(', ')}`,
    );
    assert.equal(await phone.locator('#jobs li').count(), 0, 'the phone pushed nothing and shows nothing');
    // Only A pulls, and fails its next job: the job is sent back, and A gets it again.
    for (const worker of ['B', 'C']) {
      await desktop.locator(`.worker[data-worker="${worker}"] .toggle`).click();
      await workerStatus(desktop, worker, 'paused').waitFor();
    }
    await desktop.locator('.worker[data-worker="A"] .fail').check();
    await desktop.locator('#push-one').click();
    await logLine(desktop, 'A nack #6').waitFor();
    await desktop.locator('#jobs li[data-n="6"][data-status="acked"]').waitFor({ timeout: 15_000 });
    assert.equal(await desktop.locator('#jobs li[data-n="6"]').textContent(), '#6 ✓ acked by worker A');
    assert.equal(await desktop.locator('#log li', { hasText: 'A took #6' }).count(), 2, 'taken, failed, taken again');
    await screenshot(desktop, 'pushpull');
  });

  it('the transport switch reconnects over the chosen transport', async () => {
    const labels: Record<string, string> = { websocket: 'WebSocket', sse: 'SSE', polling: 'Long-polling' };
    for (const transport of [...TRANSPORTS].reverse()) {
      await desktop.locator('#transport').selectOption(transport);
      await desktop.locator('#state[data-state="open"]', { hasText: labels[transport]! }).waitFor();
      assert.match(desktop.url(), new RegExp(`transport=${transport}`));
    }
    // The app's subscriptions came along: a publish still reaches them.
    await tab(desktop, 'pubsub');
    const before = await desktop.locator('#pub-feed li').count();
    await desktop.locator('#tree li[data-topic="home/kitchen/temp"] .pub').click();
    await desktop
      .locator('#pub-feed li')
      .nth(before + 1)
      .waitFor();
  });

  it('a broker restart shows reconnecting, then open, and subscriptions resume without a reload', async () => {
    await tab(desktop, 'pubsub');
    await desktop.evaluate('window.marker = "same page"');
    await broker.kill();
    await desktop.locator('#state[data-state="reconnecting"]').waitFor();
    await phone.locator('#state[data-state="reconnecting"]').waitFor();
    await screenshot(desktop, 'reconnecting');
    await broker.start();
    await desktop.locator('#state[data-state="open"]').waitFor();
    await logLine(desktop, 'reconnected').waitFor();
    // Each subscription shows it was re-established on the new broker (a new epoch: a gap).
    await logLine(desktop, 'home/kitchen resubscribed').waitFor();
    await logLine(desktop, 'home resubscribed').waitFor();
    const before = Number((await count(desktop, 'home').textContent())?.split(' ')[0]);
    await desktop.locator('#tree li[data-topic="home/garden/temp"] .pub').click();
    await count(desktop, 'home')
      .filter({ hasText: `${before + 1} received` })
      .waitFor();
    // The phone's chat came back too: the bus join was re-established by the client.
    await phone.locator('#state[data-state="open"]').waitFor();
    await barrier(phone);
    await tab(phone, 'chat');
    await tab(desktop, 'chat');
    await desktop.locator('#chat-input').fill('still here after the restart');
    await desktop.locator('#chat-input').press('Enter');
    await phone.locator('#chat-messages li', { hasText: 'still here after the restart' }).waitFor();
    assert.equal(await desktop.evaluate('window.marker'), 'same page');
    await tab(desktop, 'pubsub');
    await screenshot(desktop, 'reconnected');
    assert.deepEqual(browser.errors, []);
  });

  it('loads everything from the broker: its own bundle, no CDN', () => {
    const origin = new URL(broker.url).origin;
    assert.deepEqual(
      requested.filter((url) => new URL(url).origin !== origin),
      [],
    );
    assert.ok(
      requested.includes(`${origin}/rt/rt-client.browser.mjs`),
      'the app uses the client bundle the broker serves',
    );
  });
});
