/**
 * The admin page in real Chromium: after a scripted workload (connections on two doors,
 * subscriptions, a work queue with waiting jobs, publishes), the page opened with its token
 * shows those numbers, and the presence of a topic typed in its form; without the token it says it cannot read the state. A screenshot is
 * saved in `.test-output/browser/admin.png`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Collector, clients, startBroker } from '../helpers/index.ts';
import { launchChromium, screenshot } from './chromium.ts';

const TOKEN = 'admin-token-for-the-browser-test';

describe('admin page', () => {
  it('shows connections, topics, queues and counters of the scripted workload', async () => {
    await using b = await startBroker({ mode: 'production', admin: { token: TOKEN } });
    await using ws = clients(b.url, 'websocket');
    await using sse = clients(b.url, 'sse');
    const subs = [ws.make(), ws.make(), sse.make()];
    const got = new Collector<unknown>();
    await Promise.all(subs.map((c) => c.topic('news').subscribe(got.push).ready));
    await subs[0]!.topic('news/eu').subscribe(got.push).ready;
    // One puller holds one job (prefetch 1) and never finishes it: two more wait in the queue.
    const held = new Collector<string>();
    await subs[1]!.topic<string>('jobs').pull((job) => {
      held.push(job);
      return new Promise<void>(() => undefined);
    }).ready;
    for (const job of ['a', 'b', 'c']) await subs[2]!.topic<string>('jobs').push(job);
    await held.until(1);
    for (let i = 0; i < 4; i++) await b.broker.publish('news/eu', i);
    // 4 messages to 3 subscribers of `news`, and again to the `news/eu` subscription's connection (once: one connection).
    await got.until(12);

    await using browser = await launchChromium();
    const page = await browser.page('admin');
    await page.goto(`${b.url}/rt/admin#token=${TOKEN}`);
    const cell = (key: string) => page.locator(`[data-k="${key}"]`);
    await page.locator('body[data-polled]').waitFor();
    assert.equal(await cell('conn-socket.io-websocket').textContent(), '2');
    assert.equal(await cell('conn-sse-sse').textContent(), '1');
    assert.equal(await cell('connections-total').textContent(), '3');
    assert.equal(await cell('subscriptions').textContent(), '4');
    assert.equal(await cell('pullers').textContent(), '1');
    assert.equal(await cell('topicCount').textContent(), '2');
    assert.equal(await cell('topic-news').textContent(), '3');
    assert.equal(await cell('topic-news/eu').textContent(), '1');
    assert.equal(await cell('queue-jobs').textContent(), '2');
    assert.equal(await cell('count-published').textContent(), '4');
    assert.equal(await cell('count-pushed').textContent(), '3');
    assert.equal(await cell('count-delivered').textContent(), String(12 + 1));
    assert.equal(await cell('engine').textContent(), 'memory');
    assert.equal(await page.locator('[data-k="ready"]').getAttribute('data-ready'), 'true');
    // A second poll turns totals into rates.
    await page.locator('body[data-polled="2"]').waitFor();
    assert.match((await cell('rate-published').textContent()) ?? '', /^\d+\.\d$/);
    // Presence of a chosen topic: the members with their info.
    const amy = subs[0]!.topic('news').presence({ info: { name: 'amy' } });
    await amy.ready;
    await page.fill('#presence-topic', 'news');
    await page.click('#presence-form button');
    await cell(`member-${amy.self}`).waitFor();
    assert.equal(await cell('presence-count').textContent(), '1');
    assert.match((await page.locator('#presence').textContent()) ?? '', /\{"name":"amy"\}/);
    await screenshot(page, 'admin');

    const stranger = await browser.page('stranger');
    await stranger.goto(`${b.url}/rt/admin`);
    await stranger.locator('#error:not([hidden])').waitFor();
    assert.match((await stranger.locator('#error').textContent()) ?? '', /token/);
    assert.deepEqual(browser.errors, []);
  });
});
